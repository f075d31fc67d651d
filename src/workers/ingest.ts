import type { RedisClient } from '../redis/connections.js';
import type { Intake } from './intake.js';

export interface Ingest {
  start(): Promise<void>;
  /** Stops listening, then waits for every message already received to be enqueued. */
  stop(): Promise<void>;
}

/**
 * Hears the detection engine's channels over pub/sub. Pub/sub forgets what is published while
 * nobody listens; `createStreamIngest` adds the at-least-once path.
 */
export function createIngest({ subscriber, intake, channels }: { subscriber: RedisClient; intake: Intake; channels: string[] }): Ingest {
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
        await subscriber.unsubscribe().catch(() => undefined);
      }
      await Promise.allSettled([...inFlight]);
    },
  };
}
