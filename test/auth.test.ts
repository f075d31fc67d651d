import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createAlertClient } from '../src/client/alert-client.js';
import { codeOf, createTestUser, gqlAs, type TestUser } from './utils/auth.js';
import { createDisposers, createTestEnv, type TestEnv } from './utils/env.js';
import { childEnv, spawnPatternwire } from './utils/processes.js';
import { freePort } from './utils/resources.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { waitFor } from './utils/wait.js';

/**
 * Contract §5, identity: every request and every WebSocket belongs to a user. Through real
 * HTTP and real WebSockets (the official graphql-ws client): the failure codes, each role against
 * each admin operation, tokens invisible across users, JWTs (HS256 and a JWKS served over HTTP),
 * and — with two API processes — revocation, expiry and deletion closing open sockets, and one
 * rate limit shared through Redis.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

const JWT_SECRET = 'a-test-secret-of-at-least-32-characters!';

interface Socket {
  client: Client;
  /** Close codes seen, in order. */
  closes: { code: number; reason: string }[];
  /** Resolves true once connection_ack arrived, false if it closed first. */
  connected: Promise<boolean>;
}

function openSocket(wsUrl: string, token: string | null): Socket {
  const closes: Socket['closes'] = [];
  let settle: (ok: boolean) => void = () => undefined;
  const connected = new Promise<boolean>((resolve) => (settle = resolve));
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
    on: {
      connected: () => settle(true),
      closed: (event) => {
        const e = event as { code: number; reason: string };
        closes.push({ code: e.code, reason: e.reason });
        settle(false);
      },
    },
    onNonLazyError: () => undefined,
  });
  disposers.add(() => client.dispose());
  return { client, closes, connected };
}

/** The first result of a query over a socket. */
function queryOver(
  socket: Socket,
  query: string,
): Promise<{ data?: unknown; errors?: { extensions?: Record<string, unknown> }[] }> {
  return new Promise((resolve, reject) => {
    socket.client.subscribe({ query }, { next: (r) => resolve(r as never), error: reject, complete: () => undefined });
  });
}

describe('one API process, authentication required', () => {
  let t: TestEnv;
  let system: TestSystem;
  let admin: TestUser;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    t = await createTestEnv(disposers, 'auth', {
      AUTH_MODE: 'required',
      AUTH_JWT_SECRET: JWT_SECRET,
      WS_MAX_PER_USER: '3',
      AUTH_RECHECK_MS: '200',
    });
    system = await startTestSystem(disposers, t.config, { api: true, migrate: true });
    admin = await createTestUser(t.config.databaseUrl!, 'root', 'ADMIN');
    alice = await createTestUser(t.config.databaseUrl!, 'alice', 'READER');
    bob = await createTestUser(t.config.databaseUrl!, 'bob', 'READER');
  });

  it('no, unknown, malformed, expired or revoked credential: 401, WWW-Authenticate: Bearer, UNAUTHENTICATED; nothing runs', async () => {
    const expired = await createTestUser(t.config.databaseUrl!, 'alice', 'READER', new Date(Date.now() - 1_000));
    const revoked = await createTestUser(t.config.databaseUrl!, 'alice', 'READER');
    expect(
      (await gqlAs(system.httpUrl, revoked.token, `mutation { revokeToken(tokenId: "${revoked.tokenId}") { revokedAt } }`))
        .status,
    ).toBe(200);
    const unknown = `pw_${'A'.repeat(43)}`;
    for (const [what, token] of [
      ['none', null],
      ['unknown', unknown],
      ['not a token or JWT', 'hello'],
      ['expired', expired.token],
      ['revoked', revoked.token],
    ] as const) {
      const r = await gqlAs(system.httpUrl, token, '{ __schema { queryType { name } } }');
      expect(r.status, what).toBe(401);
      expect(r.headers.get('www-authenticate'), what).toBe('Bearer');
      expect(codeOf(r), what).toBe('UNAUTHENTICATED');
      expect(r.body.data, what).toBeUndefined();
    }
    const rest = await fetch(`${system.httpUrl}/api/patterns/daily`);
    expect(rest.status).toBe(401);
    expect(rest.headers.get('www-authenticate')).toBe('Bearer');
    expect(await rest.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    const restOk = await fetch(`${system.httpUrl}/api/patterns/daily`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(restOk.status).toBe(200);
    // Liveness stays open: a load balancer has no token.
    expect((await fetch(`${system.httpUrl}/healthz`)).status).toBe(200);
  });

  it('a WebSocket without a good credential closes with 4403 during connection_init; a good one is served', async () => {
    for (const token of [null, 'nonsense', `pw_${'B'.repeat(43)}`]) {
      const s = openSocket(system.wsUrl, token);
      expect(await s.connected).toBe(false);
      expect(s.closes[0]?.code).toBe(4403);
    }
    const ok = openSocket(system.wsUrl, alice.token);
    expect(await ok.connected).toBe(true);
    expect(await queryOver(ok, '{ me { name role } }')).toMatchObject({ data: { me: { name: 'alice', role: 'READER' } } });
    await ok.client.dispose();
  });

  it('each admin operation: FORBIDDEN for a READER, allowed for an ADMIN', async () => {
    const ops: [string, string][] = [
      ['users', '{ users { name } }'],
      ['rejectedEvents', '{ rejectedEvents(first: 1) { id } }'],
      ['createUser', 'mutation { createUser(name: "carol") { id } }'],
      ['setUserRole', `mutation { setUserRole(userId: "${bob.userId}", role: READER) { id } }`],
      ['deleteUser', 'mutation { deleteUser(userId: "999999") }'],
      ['createToken for another user', `mutation { createToken(name: "x", userId: "${bob.userId}") { token } }`],
    ];
    for (const [what, query] of ops) {
      const r = await gqlAs(system.httpUrl, alice.token, query);
      expect(codeOf(r), `${what} as READER: ${JSON.stringify(r.body)}`).toBe('FORBIDDEN');
      expect(r.body.errors![0]!.message, what).toMatch(/ADMIN/);
    }
    const asAdmin = async (query: string) => {
      const r = await gqlAs<Record<string, unknown>>(system.httpUrl, admin.token, query);
      expect(r.body.errors, query).toBeUndefined();
      return r.body.data!;
    };
    expect(((await asAdmin('{ users { name } }'))['users'] as { name: string }[]).map((u) => u.name)).toEqual(
      expect.arrayContaining(['root', 'alice', 'bob']),
    );
    await asAdmin('{ rejectedEvents(first: 1) { id } }');
    const carol = (await asAdmin('mutation { createUser(name: "carol") { id name role } }'))['createUser'] as {
      id: string;
      role: string;
    };
    expect(carol.role).toBe('READER');
    expect(await asAdmin(`mutation { setUserRole(userId: "${carol.id}", role: ADMIN) { role } }`)).toEqual({
      setUserRole: { role: 'ADMIN' },
    });
    const forCarol = (
      await asAdmin(`mutation { createToken(name: "ci", userId: "${carol.id}") { token apiToken { user { name } } } }`)
    )['createToken'] as { token: string; apiToken: { user: { name: string } } };
    expect(forCarol.apiToken.user.name).toBe('carol');
    expect((await gqlAs(system.httpUrl, forCarol.token, '{ me { name role } }')).body.data).toEqual({
      me: { name: 'carol', role: 'ADMIN' },
    });
    expect(await asAdmin(`mutation { deleteUser(userId: "${carol.id}") }`)).toEqual({ deleteUser: true });
    // Deleting the user took its tokens along.
    expect((await gqlAs(system.httpUrl, forCarol.token, '{ me { name } }')).status).toBe(401);
    // Bad input is still BAD_USER_INPUT, for an admin too.
    expect(codeOf(await gqlAs(system.httpUrl, admin.token, 'mutation { createUser(name: "Bad Name") { id } }'))).toBe(
      'BAD_USER_INPUT',
    );
    expect(codeOf(await gqlAs(system.httpUrl, admin.token, 'mutation { createUser(name: "alice") { id } }'))).toBe(
      'BAD_USER_INPUT',
    );
    expect(
      codeOf(await gqlAs(system.httpUrl, admin.token, 'mutation { setUserRole(userId: "999999", role: ADMIN) { id } }')),
    ).toBe('NOT_FOUND');
  });

  it('tokens: the secret once, hashed at rest; one user’s tokens are NOT_FOUND to another', async () => {
    const made = await gqlAs<{ createToken: { token: string; apiToken: { id: string; name: string; user: { name: string } } } }>(
      system.httpUrl,
      alice.token,
      'mutation { createToken(name: "laptop", expiresInSeconds: 3600) { token apiToken { id name expiresAt user { name } } } }',
    );
    const { token, apiToken } = made.body.data!.createToken;
    expect(token).toMatch(/^pw_[A-Za-z0-9_-]{43}$/);
    expect(apiToken).toMatchObject({ name: 'laptop', user: { name: 'alice' } });
    // At rest: a 32-byte SHA-256, never the secret.
    const client = new pg.Client({ connectionString: t.config.databaseUrl });
    await client.connect();
    const { rows } = await client.query<{ token_hash: Buffer }>('SELECT token_hash FROM api_tokens WHERE id = $1', [apiToken.id]);
    await client.end();
    expect(rows[0]!.token_hash).toHaveLength(32);
    expect(rows[0]!.token_hash.toString('latin1')).not.toContain(token.slice(3, 20));

    const mine = await gqlAs<{ tokens: { id: string }[] }>(system.httpUrl, alice.token, '{ tokens { id name } }');
    expect(mine.body.data!.tokens.map((x) => x.id)).toContain(apiToken.id);
    expect(JSON.stringify(mine.body)).not.toContain(token);
    // Bob cannot see, list or revoke Alice's token: as if it did not exist.
    const bobs = await gqlAs<{ tokens: { id: string }[] }>(system.httpUrl, bob.token, '{ tokens { id } }');
    expect(bobs.body.data!.tokens.map((x) => x.id)).not.toContain(apiToken.id);
    expect(codeOf(await gqlAs(system.httpUrl, bob.token, `{ tokens(userId: "${alice.userId}") { id } }`))).toBe('NOT_FOUND');
    expect(codeOf(await gqlAs(system.httpUrl, bob.token, `mutation { revokeToken(tokenId: "${apiToken.id}") { id } }`))).toBe(
      'NOT_FOUND',
    );
    expect((await gqlAs(system.httpUrl, token, '{ me { name } }')).status).toBe(200);
    // An admin sees everyone's.
    const all = await gqlAs<{ tokens: { id: string }[] }>(system.httpUrl, admin.token, '{ tokens { id } }');
    expect(all.body.data!.tokens.map((x) => x.id)).toContain(apiToken.id);
    // Bounds of createToken, one past each.
    expect(
      codeOf(await gqlAs(system.httpUrl, alice.token, 'mutation { createToken(name: "x", expiresInSeconds: 59) { token } }')),
    ).toBe('BAD_USER_INPUT');
    expect(
      codeOf(
        await gqlAs(
          system.httpUrl,
          alice.token,
          `mutation { createToken(name: "x", expiresInSeconds: ${10 * 365 * 86_400 + 1}) { token } }`,
        ),
      ),
    ).toBe('BAD_USER_INPUT');
    expect(
      codeOf(await gqlAs(system.httpUrl, alice.token, `mutation { createToken(name: "${'n'.repeat(101)}") { token } }`)),
    ).toBe('BAD_USER_INPUT');
    // Revoked by its owner: refused from then on.
    await gqlAs(system.httpUrl, alice.token, `mutation { revokeToken(tokenId: "${apiToken.id}") { revokedAt } }`);
    expect((await gqlAs(system.httpUrl, token, '{ me { name } }')).status).toBe(401);
  });

  it('a JWT signed with AUTH_JWT_SECRET: sub is the user (created READER on first sight), patternwire_role sets the role', async () => {
    const key = new TextEncoder().encode(JWT_SECRET);
    const sign = (claims: Record<string, unknown>, sub: string, exp = '5m') =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime(exp).sign(key);
    const first = await gqlAs(system.httpUrl, await sign({}, 'host.dave'), '{ me { name role } }');
    expect(first.body.data).toEqual({ me: { name: 'host.dave', role: 'READER' } });
    const promoted = await gqlAs(system.httpUrl, await sign({ patternwire_role: 'admin' }, 'host.dave'), '{ users { name } }');
    expect(promoted.body.errors).toBeUndefined();
    // Refused: another key, expired, a role claim outside reader/admin, a sub that is no user name.
    const other = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('x'.repeat(40)));
    for (const jwt of [
      other,
      await sign({}, 'host.dave', '-1m'),
      await sign({ patternwire_role: 'root' }, 'host.dave'),
      await sign({}, 'Not A Name'),
    ]) {
      const r = await gqlAs(system.httpUrl, jwt, '{ me { name } }');
      expect(r.status).toBe(401);
      expect(codeOf(r)).toBe('UNAUTHENTICATED');
    }
    // Over graphql-ws as well.
    const s = openSocket(system.wsUrl, await sign({}, 'host.erin'));
    expect(await s.connected).toBe(true);
    expect(await queryOver(s, '{ me { name } }')).toMatchObject({ data: { me: { name: 'host.erin' } } });
    await s.client.dispose();
  });

  it(`WebSockets per user: the 4th of alice’s is closed with 1008 naming WS_MAX_PER_USER; bob is unaffected`, async () => {
    const mine = [0, 1, 2].map(() => openSocket(system.wsUrl, alice.token));
    expect(await Promise.all(mine.map((s) => s.connected))).toEqual([true, true, true]);
    const fourth = openSocket(system.wsUrl, alice.token);
    expect(await fourth.connected).toBe(false);
    expect(fourth.closes[0]).toMatchObject({
      code: 1008,
      reason: expect.stringMatching(/at most 3 per user \(WS_MAX_PER_USER\)/),
    });
    const bobs = openSocket(system.wsUrl, bob.token);
    expect(await bobs.connected).toBe(true);
    // One of alice's goes: there is room again.
    await mine[0]!.client.dispose();
    await waitFor(async () => (await openSocket(system.wsUrl, alice.token).connected) === true, {
      timeoutMs: 5_000,
      what: 'room for a socket',
    });
    for (const s of [...mine, bobs]) await s.client.dispose();
  });

  it('the client helper signs in with a credential, and stops (no retry loop) when it is refused', async () => {
    const states: string[] = [];
    const ok = createAlertClient({
      url: system.wsUrl,
      webSocketImpl: WebSocket,
      credential: () => alice.token,
      onAlert: () => undefined,
      onStateChange: (s) => states.push(s),
    });
    disposers.add(() => ok.close());
    await waitFor(() => ok.state() === 'live', { timeoutMs: 10_000, what: 'the signed-in client to be live' });
    const errors: unknown[] = [];
    const refused = createAlertClient({
      url: system.wsUrl,
      webSocketImpl: WebSocket,
      credential: 'pw_wrong',
      onAlert: () => undefined,
      onError: (e) => errors.push(e),
    });
    disposers.add(() => refused.close());
    await waitFor(() => refused.state() === 'closed', { timeoutMs: 10_000, what: 'the refused client to stop' });
    expect(errors).toEqual([expect.objectContaining({ code: 4403 })]);
    await ok.close();
  });

  it('logs hold no credential', () => {
    const tokens = [admin.token, alice.token, bob.token];
    for (const line of system.logs) for (const token of tokens) expect(line).not.toContain(token);
  });
});

describe('a JWKS served over HTTP (AUTH_JWKS_URL, with issuer and audience)', () => {
  it('accepts a token signed by a key of the set and refuses a wrong issuer or audience', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = createServer((_, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    disposers.add(() => new Promise<void>((resolve) => jwks.close(() => resolve())));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    const t = await createTestEnv(disposers, 'jwks', {
      AUTH_MODE: 'required',
      AUTH_JWKS_URL: jwksUrl,
      AUTH_JWT_ISSUER: 'https://host.example',
      AUTH_JWT_AUDIENCE: 'patternwire',
    });
    const system = await startTestSystem(disposers, t.config, { api: true, migrate: true });
    const sign = (iss: string, aud: string) =>
      new SignJWT({ patternwire_role: 'reader' })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setSubject('frank')
        .setIssuer(iss)
        .setAudience(aud)
        .setExpirationTime('5m')
        .sign(privateKey);
    const ok = await gqlAs(system.httpUrl, await sign('https://host.example', 'patternwire'), '{ me { name role } }');
    expect(ok.body).toEqual({ data: { me: { name: 'frank', role: 'READER' } } });
    expect((await gqlAs(system.httpUrl, await sign('https://evil.example', 'patternwire'), '{ me { name } }')).status).toBe(401);
    expect((await gqlAs(system.httpUrl, await sign('https://host.example', 'other'), '{ me { name } }')).status).toBe(401);
  });
});

describe('two API processes over one database and one Redis', () => {
  let t: TestEnv;
  let urls: { http: string; ws: string }[];
  let admin: TestUser;

  beforeAll(async () => {
    t = await createTestEnv(disposers, 'auth2', {
      AUTH_MODE: 'required',
      AUTH_RECHECK_MS: '1000',
      RATE_LIMIT_PER_SECOND: '1',
      RATE_LIMIT_BURST: '6',
    });
    // Migrated here; the API processes only serve.
    admin = await createTestUser(t.config.databaseUrl!, 'root', 'ADMIN');
    urls = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const api = spawnPatternwire(disposers, 'api', childEnv(t.env, { PORT: String(port), LOG_LEVEL: 'info' }));
      await api.waitForLine(/GraphiQL at/, 45_000);
      urls.push({ http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/graphql` });
    }
  });

  it('revocation, expiry and user deletion close the sockets on every API process within 5 s (4403)', async () => {
    const victim = await createTestUser(t.config.databaseUrl!, 'victim', 'READER');
    const doomed = await createTestUser(t.config.databaseUrl!, 'doomed', 'READER');
    const briefExpiresAt = Date.now() + 3_000;
    const brief = await createTestUser(t.config.databaseUrl!, 'brief', 'READER', new Date(briefExpiresAt));
    const sockets = urls.flatMap((u) => [victim, doomed, brief].map((user) => ({ user, socket: openSocket(u.ws, user.token) })));
    expect(await Promise.all(sockets.map((s) => s.socket.connected))).toEqual(sockets.map(() => true));

    const revokedAt = Date.now();
    await gqlAs(urls[0]!.http, admin.token, `mutation { revokeToken(tokenId: "${victim.tokenId}") { id } }`);
    await gqlAs(urls[1]!.http, admin.token, `mutation { deleteUser(userId: "${doomed.userId}") }`);
    const closedWithin = async (user: TestUser, from: number) => {
      const mine = sockets.filter((s) => s.user === user).map((s) => s.socket);
      await waitFor(() => mine.every((s) => s.closes.length > 0), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: `${user.name}'s sockets to close`,
      });
      for (const s of mine) expect(s.closes[0]!.code).toBe(4403);
      return Date.now() - from;
    };
    const revokeMs = await closedWithin(victim, revokedAt);
    const deleteMs = await closedWithin(doomed, revokedAt);
    const expiryMs = await closedWithin(brief, brief.userId ? Date.now() : 0);
    console.log(
      `[auth] sockets closed on both API processes: revoked ${revokeMs} ms, deleted ${deleteMs} ms, expired +${expiryMs} ms after the check began`,
    );
    expect(revokeMs).toBeLessThan(5_000);
    expect(deleteMs).toBeLessThan(5_000);
  });

  it('one rate limit per credential across both processes: past the burst, 429 with Retry-After and RATE_LIMITED; another credential unaffected', async () => {
    const user = await createTestUser(t.config.databaseUrl!, 'busy', 'READER');
    const other = await createTestUser(t.config.databaseUrl!, 'calm', 'READER');
    const statuses: number[] = [];
    // Alternating processes: the burst of 6 is one count, not 6 each.
    for (let i = 0; i < 8; i++) statuses.push((await gqlAs(urls[i % 2]!.http, user.token, '{ me { name } }')).status);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(7);
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(statuses).toContain(429);
    const limited = await gqlAs(urls[0]!.http, user.token, '{ me { name } }');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(codeOf(limited)).toBe('RATE_LIMITED');
    expect(limited.body.errors![0]!.message).toMatch(/RATE_LIMIT_PER_SECOND/);
    expect((await gqlAs(urls[1]!.http, other.token, '{ me { name } }')).status).toBe(200);
  });

  it('over graphql-ws every operation draws from the same count: past it, RATE_LIMITED for that operation; the socket stays open', async () => {
    const user = await createTestUser(t.config.databaseUrl!, 'chatty', 'READER');
    const other = await createTestUser(t.config.databaseUrl!, 'quiet', 'READER');
    const connect = (ws: string, token: string) => {
      const client = createClient({
        url: ws,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        connectionParams: { authorization: `Bearer ${token}` },
      });
      disposers.add(() => client.dispose());
      return client;
    };
    /** One `me` query over the socket: its answer, or the code and message of its error. */
    const ask = (client: Client) =>
      new Promise<{ ok: boolean; code?: unknown; message?: string }>((resolve) => {
        client.subscribe(
          { query: '{ me { name } }' },
          {
            next: () => resolve({ ok: true }),
            error: (e) => {
              const first = (Array.isArray(e) ? e[0] : e) as { message?: string; extensions?: { code?: unknown } } | undefined;
              resolve({ ok: false, code: first?.extensions?.code, message: first?.message });
            },
            complete: () => undefined,
          },
        );
      });
    const clients = urls.map((u) => connect(u.ws, user.token));
    const answers: Awaited<ReturnType<typeof ask>>[] = [];
    // Alternating processes, as over HTTP: one count for the credential.
    for (let i = 0; i < 8; i++) answers.push(await ask(clients[i % 2]!));
    expect(answers.slice(0, 6).map((a) => a.ok)).toEqual([true, true, true, true, true, true]);
    const refused = answers.find((a) => !a.ok);
    expect(refused?.code).toBe('RATE_LIMITED');
    expect(refused?.message).toMatch(/RATE_LIMIT_PER_SECOND/);
    // The socket is still open: once the rate allows, its next operation is answered.
    await waitFor(async () => (await ask(clients[0]!)).ok, {
      what: 'an operation answered once the rate allows',
      intervalMs: 300,
    });
    expect((await ask(connect(urls[1]!.ws, other.token))).ok).toBe(true);
  });
});
