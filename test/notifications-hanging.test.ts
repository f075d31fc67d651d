import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';
import { createWsClient, gql } from './utils/graphql.js';
import { subscribersAtLeast } from './utils/burst.js';
import { startTestSystem } from './utils/system.js';
import { waitFor } from './utils/wait.js';
import { startReceiver } from './utils/webhook-receiver.js';

/**
 * Contract §7: deliveries never slow the detection pipeline. The same load — 100 detections at
 * 50/s to one `patternAlert` subscriber — with no notification rule, then with a rule matching
 * every one of them whose receiver takes 10 s to answer every call (so every notification slot
 * of the worker is held by a hanging call). API, ingest and worker share one process, the
 * harsher case: a hanging socket must not cost the event loop either.
 *
 * The bound is generous (a busy two-core machine keeps it): a pipeline that waited for sends
 * would show seconds per alert, 10 s for the first one.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

const N = 100;
const RATE = 50;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

describe('notifications: a receiver that hangs 10 s on every call', () => {
  it('delays no alert to patternAlert subscribers', async () => {
    const receiver = await startReceiver(disposers);
    const t = await createTestEnv(disposers, 'notifyhang', { WEBHOOK_ALLOW_PRIVATE: 'true', NOTIFY_TIMEOUT_MS: '15000' });
    const system = await startTestSystem(disposers, t.config);
    const publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    const client = createWsClient(disposers, system.wsUrl);
    const arrivals = new Map<string, number>();
    client.subscribe<{ patternAlert: { eventId: string } }>(
      { query: 'subscription { patternAlert { eventId } }' },
      {
        next: (r) => {
          if (r.data) arrivals.set(r.data.patternAlert.eventId, performance.now());
        },
        error: () => undefined,
        complete: () => undefined,
      },
    );
    await subscribersAtLeast(system.httpUrl, 1);

    /** Publishes N detections at RATE/s; resolves with each one's publish → subscriber latency, sorted. */
    async function measure(label: string): Promise<number[]> {
      const sentAt = new Map<string, number>();
      const start = performance.now();
      for (let i = 0; i < N; i++) {
        const eventId = `${label}-${t.id}-${i}`;
        sentAt.set(eventId, performance.now());
        await publisher.publish(
          t.config.channels.patterns,
          JSON.stringify({ event_id: eventId, pattern: 'BreakoutBO', symbol: 'AAPL', confidence: 0.95, source: 'hang-test' }),
        );
        // The load generator's pace (50/s), not a wait for a condition.
        const wait = start + ((i + 1) * 1000) / RATE - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await waitFor(() => [...sentAt.keys()].every((e) => arrivals.has(e)), { timeoutMs: 30_000, what: `${label}: every alert` });
      return [...sentAt].map(([e, at]) => arrivals.get(e)! - at).sort((a, b) => a - b);
    }

    const quiet = await measure('quiet');

    const list = await gql<{ createWatchlist: { id: string } }>(
      system.httpUrl,
      'mutation { createWatchlist(input: { name: "everything", filter: {} }) { id } }',
    );
    const rule = await gql<{ createNotificationRule: { secret: string } }>(
      system.httpUrl,
      `mutation($input: NotificationRuleInput!) { createNotificationRule(input: $input) { secret } }`,
      {
        input: {
          watchlistId: list.body.data!.createWatchlist.id,
          channel: 'WEBHOOK',
          target: `${receiver.base}/hang`,
          minPriority: 'LOW',
        },
      },
    );
    receiver.route('/hang', rule.body.data!.createNotificationRule.secret, () => ({ status: 200, delayMs: 10_000 }));

    const hanging = await measure('hanging');
    // The receiver really was hanging on a full set of slots while the alerts went out.
    const heard = receiver.on('/hang');
    const stats = (l: number[]) =>
      `p50 ${percentile(l, 50).toFixed(1)} ms, p99 ${percentile(l, 99).toFixed(1)} ms, max ${l.at(-1)!.toFixed(1)} ms`;
    console.log(
      `[notifications: hanging receiver] ${N} alerts at ${RATE}/s to a patternAlert subscriber — no rule: ${stats(quiet)}; ` +
        `a rule whose receiver hangs 10 s on every call: ${stats(hanging)} (${heard.length} calls held open meanwhile, ` +
        `concurrency ${t.config.notifications.concurrency})`,
    );
    expect(heard.length).toBeGreaterThanOrEqual(Math.min(N, t.config.notifications.concurrency));
    expect(heard.every((c) => c.verifyError === null)).toBe(true);
    expect(hanging.at(-1)!).toBeLessThan(3_000);
    expect(percentile(hanging, 50)).toBeLessThan(1_000);
    // Let the hanging calls go (their sockets close) rather than wait 10 s at teardown.
    await receiver.close();
  }, 120_000);
});
