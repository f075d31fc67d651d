import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, createTestUser, gqlAs, type TestUser } from './utils/auth.js';
import { createDisposers, createTestEnv, type TestEnv } from './utils/env.js';
import { startTestSystem, type TestSystem } from './utils/system.js';

/**
 * Contract §6, watchlists: create, update, delete, list, through real HTTP as two users. Each
 * limit at its value and one past it; another user's watchlist NOT_FOUND everywhere.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

let t: TestEnv;
let system: TestSystem;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await createTestEnv(disposers, 'watchlists', { AUTH_MODE: 'required' });
  system = await startTestSystem(disposers, t.config, { api: true, migrate: true });
  alice = await createTestUser(t.config.databaseUrl!, 'alice', 'READER');
  bob = await createTestUser(t.config.databaseUrl!, 'bob', 'READER');
});

const FIELDS = 'id name filter { symbols patterns tiers minConfidence minPriority } createdAt updatedAt';

interface Watchlist {
  id: string;
  name: string;
  filter: {
    symbols: string[] | null;
    patterns: string[] | null;
    tiers: string[] | null;
    minConfidence: number | null;
    minPriority: string | null;
  };
  createdAt: string;
  updatedAt: string;
}

const create = (user: TestUser, input: unknown) =>
  gqlAs<{ createWatchlist: Watchlist }>(
    system.httpUrl,
    user.token,
    `mutation($input: WatchlistInput!) { createWatchlist(input: $input) { ${FIELDS} } }`,
    {
      input,
    },
  );

describe('watchlists', () => {
  it('creates, lists, reads, updates and deletes one, normalising symbols', async () => {
    const made = await create(alice, {
      name: ' Breakouts ',
      filter: { symbols: ['aapl', 'AAPL', 'nvda'], tiers: ['DAILY'], minPriority: 'HIGH' },
    });
    expect(made.body.errors).toBeUndefined();
    const w = made.body.data!.createWatchlist;
    expect(w).toMatchObject({
      name: 'Breakouts',
      filter: { symbols: ['AAPL', 'NVDA'], patterns: null, tiers: ['DAILY'], minConfidence: null, minPriority: 'HIGH' },
    });
    const listed = await gqlAs<{ watchlists: Watchlist[] }>(system.httpUrl, alice.token, `{ watchlists { ${FIELDS} } }`);
    expect(listed.body.data!.watchlists.map((x) => x.id)).toContain(w.id);
    const one = await gqlAs<{ watchlist: Watchlist }>(system.httpUrl, alice.token, `{ watchlist(id: "${w.id}") { ${FIELDS} } }`);
    expect(one.body.data!.watchlist.name).toBe('Breakouts');

    const updated = await gqlAs<{ updateWatchlist: Watchlist }>(
      system.httpUrl,
      alice.token,
      `mutation($input: WatchlistInput!) { updateWatchlist(id: "${w.id}", input: $input) { ${FIELDS} } }`,
      { input: { name: 'Momentum', filter: { patterns: ['Doji'], minConfidence: 0.8 } } },
    );
    expect(updated.body.data!.updateWatchlist).toMatchObject({
      id: w.id,
      name: 'Momentum',
      filter: { symbols: null, patterns: ['Doji'], minConfidence: 0.8 },
    });
    expect(Date.parse(updated.body.data!.updateWatchlist.updatedAt)).toBeGreaterThanOrEqual(Date.parse(w.createdAt));

    expect((await gqlAs(system.httpUrl, alice.token, `mutation { deleteWatchlist(id: "${w.id}") }`)).body.data).toEqual({
      deleteWatchlist: true,
    });
    expect(codeOf(await gqlAs(system.httpUrl, alice.token, `{ watchlist(id: "${w.id}") { id } }`))).toBe('NOT_FOUND');
  });

  it('another user’s watchlist is NOT_FOUND for reading, updating and deleting, and absent from their list', async () => {
    const w = (await create(alice, { name: 'mine', filter: { symbols: ['MSFT'] } })).body.data!.createWatchlist;
    const input = { name: 'stolen', filter: {} };
    expect(codeOf(await gqlAs(system.httpUrl, bob.token, `{ watchlist(id: "${w.id}") { id } }`))).toBe('NOT_FOUND');
    expect(
      codeOf(
        await gqlAs(
          system.httpUrl,
          bob.token,
          `mutation($input: WatchlistInput!) { updateWatchlist(id: "${w.id}", input: $input) { id } }`,
          { input },
        ),
      ),
    ).toBe('NOT_FOUND');
    expect(codeOf(await gqlAs(system.httpUrl, bob.token, `mutation { deleteWatchlist(id: "${w.id}") }`))).toBe('NOT_FOUND');
    const bobs = await gqlAs<{ watchlists: Watchlist[] }>(system.httpUrl, bob.token, '{ watchlists { id } }');
    expect(bobs.body.data!.watchlists.map((x) => x.id)).not.toContain(w.id);
    // Still Alice's, unchanged.
    const still = await gqlAs<{ watchlist: Watchlist }>(system.httpUrl, alice.token, `{ watchlist(id: "${w.id}") { name } }`);
    expect(still.body.data!.watchlist.name).toBe('mine');
  });

  it('500 symbols allowed, 501 refused; since/until refused; a bad symbol or name refused — each BAD_USER_INPUT', async () => {
    const symbols = (n: number) => Array.from({ length: n }, (_, i) => `S${i}`);
    const ok = await create(alice, { name: 'wide', filter: { symbols: symbols(500) } });
    expect(ok.body.data!.createWatchlist.filter.symbols).toHaveLength(500);
    const wide = await create(alice, { name: 'too wide', filter: { symbols: symbols(501) } });
    expect(codeOf(wide)).toBe('BAD_USER_INPUT');
    expect(wide.body.errors![0]!.message).toMatch(/input\.filter\.symbols may list at most 500 values, got 501/);
    for (const filter of [{ since: '2026-01-01T00:00:00Z' }, { until: '2026-01-01T00:00:00Z' }]) {
      const r = await create(alice, { name: 'window', filter });
      expect(codeOf(r), JSON.stringify(filter)).toBe('BAD_USER_INPUT');
      expect(r.body.errors![0]!.message).toMatch(/since and until have no place in a watchlist/);
    }
    expect(codeOf(await create(alice, { name: 'bad', filter: { symbols: ['A B'] } }))).toBe('BAD_USER_INPUT');
    expect(codeOf(await create(alice, { name: '', filter: {} }))).toBe('BAD_USER_INPUT');
    expect(codeOf(await create(alice, { name: 'n'.repeat(101), filter: {} }))).toBe('BAD_USER_INPUT');
  });

  it('50 watchlists per user: the 51st is refused, naming the limit; another user is unaffected', async () => {
    const carol = await createTestUser(t.config.databaseUrl!, 'carol', 'READER');
    for (let i = 0; i < 50; i++) {
      const r = await create(carol, { name: `w${i}`, filter: { tiers: ['DAILY'] } });
      expect(r.body.errors, `watchlist ${i + 1}`).toBeUndefined();
    }
    const over = await create(carol, { name: 'w50', filter: {} });
    expect(codeOf(over)).toBe('BAD_USER_INPUT');
    expect(over.body.errors![0]!.message).toMatch(/50 watchlists, the most a user may have/);
    expect((await create(bob, { name: 'bobs', filter: {} })).body.errors).toBeUndefined();
  });
});
