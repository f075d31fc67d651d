import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';
import { gql } from './utils/graphql.js';
import { childEnv, spawnPatternwire } from './utils/processes.js';
import { freePort } from './utils/resources.js';
import { waitFor } from './utils/wait.js';
import { startReceiver } from './utils/webhook-receiver.js';

/**
 * Notifications in `patternwire all` on the embedded PGlite (what `npm start` runs): one
 * connection shared by the writer and the delivery engine, the write lock an in-process mutex.
 * An alert, the cap's digest (closed under that lock) and a test send, then a clean SIGTERM
 * while a send hangs.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

describe('notifications on PGlite (all-in-one)', () => {
  it('delivers an alert, a digest and a test send, verified, and stops cleanly', async () => {
    const receiver = await startReceiver(disposers);
    const t = await createTestEnv(disposers, 'notifypglite');
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pw-notify-'));
    disposers.add(() => rm(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const all = spawnPatternwire(
      disposers,
      'all',
      childEnv(t.env, {
        DATABASE_URL: undefined,
        DATA_DIR: dataDir,
        PORT: String(port),
        LOG_LEVEL: 'info',
        WEBHOOK_ALLOW_PRIVATE: 'true',
        NOTIFY_CAP_WINDOW_MS: '2000',
      }),
    );
    await all.waitForLine(/GraphiQL at http:/, 60_000);
    const httpUrl = `http://127.0.0.1:${port}`;

    const list = await gql<{ createWatchlist: { id: string } }>(
      httpUrl,
      'mutation { createWatchlist(input: { name: "lite", filter: { symbols: ["LITE"] } }) { id } }',
    );
    const rule = await gql<{ createNotificationRule: { rule: { id: string }; secret: string } }>(
      httpUrl,
      `mutation($input: NotificationRuleInput!) { createNotificationRule(input: $input) { rule { id } secret } }`,
      {
        input: {
          watchlistId: list.body.data!.createWatchlist.id,
          channel: 'WEBHOOK',
          target: `${receiver.base}/lite`,
          maxPerHour: 1,
        },
      },
    );
    expect(rule.body.errors).toBeUndefined();
    receiver.route('/lite', rule.body.data!.createNotificationRule.secret);

    const publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    for (let i = 0; i < 3; i++) {
      await publisher.publish(
        t.config.channels.patterns,
        JSON.stringify({
          event_id: `${t.id}-${i}`,
          pattern: 'BreakoutBO',
          symbol: 'LITE',
          confidence: 0.95,
          source: 'pglite-test',
        }),
      );
    }
    await gql(httpUrl, `mutation($id: ID!) { testNotificationRule(id: $id) { id } }`, {
      id: rule.body.data!.createNotificationRule.rule.id,
    });
    await waitFor(() => receiver.on('/lite').length >= 3, { timeoutMs: 20_000, what: 'an alert, a test and a digest' });
    const calls = receiver.on('/lite');
    expect(calls.map((c) => c.verifyError)).toEqual([null, null, null]);
    expect(calls.map((c) => c.payload!.type).sort()).toEqual(['pattern.alert', 'pattern.digest', 'pattern.test']);
    const digest = calls.find((c) => c.payload!.type === 'pattern.digest')!;
    expect((digest.payload!.data as { count: number }).count).toBe(2);

    // A send that hangs does not hold the shutdown past SHUTDOWN_TIMEOUT_MS (10 s, the same as
    // NOTIFY_TIMEOUT_MS): past a grace it is cut, and left RETRYING for a later worker.
    receiver.route('/lite', rule.body.data!.createNotificationRule.secret, () => 'hang');
    await gql(httpUrl, `mutation($id: ID!) { testNotificationRule(id: $id) { id } }`, {
      id: rule.body.data!.createNotificationRule.rule.id,
    });
    await waitFor(() => receiver.on('/lite').length >= 4, { what: 'the hanging test send' });
    const exit = await all.signal('SIGTERM');
    expect(exit.code, all.output()).toBe(0);
  }, 90_000);
});
