import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createAlertClient, type Alert } from '../src/client/alert-client.js';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';
import { eventually } from './utils/graphql.js';
import { startTestSystem } from './utils/system.js';
import { subscribersAtLeast } from './utils/burst.js';
import { waitForQuiet } from './utils/wait.js';

const disposers = createDisposers();
afterAll(() => disposers.run());

/** A `ws` WebSocket the test can find again, to stop reading from it. */
const sockets: WebSocket[] = [];
class TrackedWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    sockets.push(this);
  }
}

describe('a subscriber that stops reading', () => {
  it(
    'is cut off past its queue bound without delaying others, then resumes with after and loses nothing',
    { timeout: 60_000 },
    async () => {
      const t = await createTestEnv(disposers, 'slow', { SUBSCRIBER_QUEUE_LIMIT: '200', WORKER_CONCURRENCY: '64' });
      const system = await startTestSystem(disposers, t.config);
      const url = system.wsUrl;

      const slow: Alert[] = [];
      const slowStates: string[] = [];
      const slowClient = createAlertClient({
        url,
        webSocketImpl: TrackedWebSocket,
        selection: 'id eventId metadata',
        onAlert: (a) => slow.push(a),
        onStateChange: (s) => slowStates.push(s),
      });
      const fast: { alert: Alert }[] = [];
      const fastClient = createAlertClient({
        url,
        webSocketImpl: WebSocket,
        selection: 'id eventId metadata',
        onAlert: (a) => fast.push({ alert: a }),
      });
      disposers.add(() => slowClient.close());
      disposers.add(() => fastClient.close());
      await eventually(() => slowClient.state() === 'live' && fastClient.state() === 'live');
      // Live on the client side; the server holds both subscriptions once it says so.
      await subscribersAtLeast(system.httpUrl, 2);

      // Stop reading: the socket stays open, TCP backpressure does the rest.
      const paused = sockets[0]!;
      paused.pause();
      const pausedAt = Date.now();

      // Large-ish payloads, so kernel socket buffers fill and the server-side queue bound is reached.
      const N = 3_000;
      const padding = 'x'.repeat(2_000);
      const publisher = new Redis(REDIS_URL);
      disposers.add(() => void publisher.disconnect());
      const pipeline = publisher.pipeline();
      for (let i = 0; i < N; i++) {
        pipeline.publish(
          t.config.channels.patterns,
          JSON.stringify({ event_id: `${t.id}-${i}`, pattern: 'Doji', symbol: 'IBM', confidence: 0.7, padding }),
        );
      }
      await pipeline.exec();

      // The reader is not held up by the one that stopped: it gets everything while the other is
      // still paused (the pause lasts until the server has closed the slow one).
      await eventually(() => fast.length === N, 40_000, 'the reading client to get every alert during the pause');
      expect(new Set(fast.map((f) => f.alert.id)).size).toBe(N);
      expect(slow.length).toBeLessThan(N);

      // The server gives up on it rather than buffering without bound (it stays paused till then).
      await eventually(
        () => system.logs.some((l) => l.includes('closing a slow WebSocket client')),
        30_000,
        'the server to close the slow client',
      );
      const pausedMs = Date.now() - pausedAt;
      paused.resume();

      await eventually(() => slow.length >= N, 20_000, 'the slow client to catch up after resuming');
      await waitForQuiet(() => slow.length, { quietMs: 300, what: 'late duplicates at the slow client' });
      const ids = slow.map((a) => Number(a.id));
      const distinct = new Set(ids);
      console.log(
        `slow consumer: published ${N}, fast received ${fast.length} (${new Set(fast.map((f) => f.alert.id)).size} distinct), slow received ${slow.length} (${distinct.size} distinct, ${slow.length - distinct.size} duplicates), reconnects ${slowStates.filter((s) => s === 'reconnecting').length}, paused ${pausedMs} ms`,
      );
      expect(slow).toHaveLength(N);
      expect(distinct.size).toBe(N);
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]!);
      expect(slowStates).toContain('reconnecting');
    },
  );
});
