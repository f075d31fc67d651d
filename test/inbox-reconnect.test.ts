import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestUser, gqlAs } from './utils/auth.js';
import { createDisposers, createTestEnv } from './utils/env.js';
import { collect, createWsClient } from './utils/graphql.js';
import { startPrivateRedis } from './utils/redis-server.js';
import { startTestSystem } from './utils/system.js';
import { waitFor } from './utils/wait.js';

/**
 * Contract §6, "watchlist changes apply to open subscriptions", when the message that announces
 * one is lost: an API process's pub/sub connection to Redis drops, and whatever was published
 * meanwhile never reaches it. Once it is back, the process reads the watchlists of every user
 * connected to it again. On a private Redis, so that dropping connections disturbs no other file.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

interface Alert {
  detection: { symbol: string };
  watchlists: { id: string; name: string }[];
}

describe('myAlerts after the API process lost its Redis pub/sub connection', () => {
  it('matches with the watchlists as they are now, changes it was never told of included, for every user', async () => {
    const redis = await startPrivateRedis(disposers);
    const t = await createTestEnv(disposers, 'inboxre', { REDIS_URL: redis.url, AUTH_MODE: 'required' });
    const system = await startTestSystem(disposers, t.config);

    const publisher = new Redis(redis.url);
    disposers.add(() => void publisher.disconnect());
    let sequence = 0;
    const publish = (symbol: string) =>
      publisher.publish(
        t.config.channels.patterns,
        JSON.stringify({
          event_id: `${t.id}-${++sequence}`,
          pattern: 'Doji',
          symbol,
          confidence: 0.8,
          timestamp: Date.now() / 1000,
        }),
      );
    /** Publishes `symbol` until `sub` has an alert of it (the subscription may still be opening). */
    const arrives = (sub: ReturnType<typeof subscribe>, symbol: string, timeoutMs = 10_000) =>
      waitFor(
        async () => {
          const alert = sub.data().find((d) => d.myAlerts.detection.symbol === symbol);
          if (alert) return alert.myAlerts;
          await publish(symbol);
          return null;
        },
        { what: `an alert of ${symbol}`, intervalMs: 200, timeoutMs },
      );
    const subscribe = (token: string) => {
      const client = createWsClient(disposers, system.wsUrl, { connectionParams: { authorization: `Bearer ${token}` } });
      const sub = collect<{ myAlerts: Alert }>(
        client,
        'subscription { myAlerts { detection { symbol } watchlists { id name } } }',
      );
      disposers.add(() => sub.unsubscribe());
      return sub;
    };

    // Two users, each watching a symbol of their own, both live.
    const users = await Promise.all(
      ['RCA', 'RCC'].map(async (symbol, i) => {
        const user = await createTestUser(t.config.databaseUrl!, `reconnecting-${i}`, 'READER');
        const r = await gqlAs<{ createWatchlist: { id: string } }>(
          system.httpUrl,
          user.token,
          `mutation { createWatchlist(input: { name: "mine", filter: { symbols: ["${symbol}"] } }) { id } }`,
        );
        return { symbol, watchlistId: r.body.data!.createWatchlist.id, sub: subscribe(user.token) };
      }),
    );
    for (const u of users) await arrives(u.sub, u.symbol);

    // The changes as another process would make them, with their announcements lost: straight
    // in the database, no `watchlistsChanged` published. Then this process's pub/sub connection drops.
    const db = new pg.Client({ connectionString: t.config.databaseUrl });
    await db.connect();
    disposers.add(() => db.end());
    for (const u of users) {
      await db.query(`update watchlists set filter = jsonb_set(filter, '{symbols}', $1) where id = $2`, [
        JSON.stringify([`${u.symbol}X`]),
        u.watchlistId,
      ]);
    }
    const clients = (await publisher.client('LIST')) as string;
    const subscriberIds = [...clients.matchAll(/^id=(\d+) .*name=\S*:subscriber /gm)].map((m) => m[1]!);
    expect(subscriberIds, clients).toHaveLength(1);
    await publisher.client('KILL', 'ID', subscriberIds[0]!);

    // Each new symbol can only match the watchlist as the database has it now.
    for (const u of users) {
      const alert = await arrives(u.sub, `${u.symbol}X`, 20_000);
      expect(alert.watchlists).toEqual([{ id: u.watchlistId, name: 'mine' }]);
      expect(u.sub.errors()).toEqual([]);
    }
    // And nobody got the other's.
    expect(users[0]!.sub.data().some((d) => d.myAlerts.detection.symbol.startsWith('RCC'))).toBe(false);
    expect(users[1]!.sub.data().some((d) => d.myAlerts.detection.symbol.startsWith('RCA'))).toBe(false);
  });
});
