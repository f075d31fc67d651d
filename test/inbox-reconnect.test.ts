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
  it('matches with the watchlists as they are now, a change it was never told of included', async () => {
    const redis = await startPrivateRedis(disposers);
    const t = await createTestEnv(disposers, 'inboxre', { REDIS_URL: redis.url, AUTH_MODE: 'required' });
    const system = await startTestSystem(disposers, t.config);
    const user = await createTestUser(t.config.databaseUrl!, 'reconnecting', 'READER');
    const created = await gqlAs<{ createWatchlist: { id: string } }>(
      system.httpUrl,
      user.token,
      'mutation { createWatchlist(input: { name: "mine", filter: { symbols: ["RCA"] } }) { id } }',
    );
    const watchlistId = created.body.data!.createWatchlist.id;

    const client = createWsClient(disposers, system.wsUrl, { connectionParams: { authorization: `Bearer ${user.token}` } });
    const sub = collect<{ myAlerts: Alert }>(client, 'subscription { myAlerts { detection { symbol } watchlists { id name } } }');
    disposers.add(() => sub.unsubscribe());

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
    // Live: published until one arrives (the subscription opens meanwhile).
    await waitFor(
      async () => {
        if (sub.results.length > 0) return true;
        await publish('RCA');
        return null;
      },
      { what: 'a live alert of RCA', intervalMs: 200 },
    );

    // The change as another process would make it, with its announcement lost: straight in the
    // database, no `watchlistsChanged` published. Then this process's pub/sub connection drops.
    const db = new pg.Client({ connectionString: t.config.databaseUrl });
    await db.connect();
    disposers.add(() => db.end());
    await db.query(`update watchlists set filter = jsonb_set(filter, '{symbols}', '["RCB"]') where id = $1`, [watchlistId]);
    const clients = (await publisher.client('LIST')) as string;
    const subscriberIds = [...clients.matchAll(/^id=(\d+) .*name=\S*:subscriber /gm)].map((m) => m[1]!);
    expect(subscriberIds, clients).toHaveLength(1);
    await publisher.client('KILL', 'ID', subscriberIds[0]!);

    // Published until one of RCB arrives: it can only match the watchlist as the database has it.
    const before = sub.results.length;
    await waitFor(
      async () => {
        if (
          sub
            .data()
            .slice(before)
            .some((d) => d.myAlerts.detection.symbol === 'RCB')
        )
          return true;
        await publish('RCB');
        return null;
      },
      { what: 'an alert of RCB, the watchlist as changed while the connection was down', intervalMs: 200, timeoutMs: 20_000 },
    );
    const rcb = sub.data().find((d) => d.myAlerts.detection.symbol === 'RCB')!;
    expect(rcb.myAlerts.watchlists).toEqual([{ id: watchlistId, name: 'mine' }]);
    expect(sub.errors()).toEqual([]);
  });
});
