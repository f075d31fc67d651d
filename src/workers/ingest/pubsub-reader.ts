import type { RedisClient } from '../../redis/connections.js';
import type { JobIntake } from './job-intake.js';

export interface Reader {
  start(): Promise<void>;
  /** Stops listening, then waits for every message already received to be enqueued. */
  stop(): Promise<void>;
}

/**
 * Hears the detection engine's channels over pub/sub. Pub/sub forgets what is published while
 * nobody listens; `createStreamReader` adds the at-least-once path.
 */
export function createPubSubReader({
  subscriber,
  intake,
  channels,
}: {
  subscriber: RedisClient;
  intake: JobIntake;
  channels: string[];
}): Reader {
  const inFlight = new Set<Promise<boolean>>();
  let listening = false;

  function onMessage(channel: Buffer, message: Buffer): void {
    const p = intake.accept(channel.toString(), message);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }

  return {
    async start() {
      subscriber.on('messageBuffer', onMessage);
      await subscriber.subscribe(...channels);
      listening = true;
    },
    async stop() {
      if (listening) {
        listening = false;
        subscriber.off('messageBuffer', onMessage);
        // With Redis gone, UNSUBSCRIBE would wait in the offline queue forever (this connection
        // never gives up on a command). The listener is already off and the connection is
        // closed next, so it is not worth waiting for.
        await Promise.race([subscriber.unsubscribe().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
      }
      await Promise.allSettled([...inFlight]);
    },
  };
}
