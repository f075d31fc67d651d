import { Redis, type RedisOptions } from 'ioredis';
import { throttled, type Logger } from '../runtime/logger.js';

/**
 * One connection per role, each tuned for what it does:
 * - `producer` adds jobs and answers API reads: fail fast rather than hang a request.
 * - `worker` blocks on BullMQ commands: BullMQ requires `maxRetriesPerRequest: null`.
 * - `publisher` / `subscriber` carry GraphQL pub/sub; a subscriber connection can do nothing else.
 * - `ingest` subscribes to the detection engine's channels.
 */
export type RedisRole = 'producer' | 'worker' | 'publisher' | 'subscriber' | 'ingest';

const roleOptions: Record<RedisRole, RedisOptions> = {
  producer: { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 5_000 },
  worker: { maxRetriesPerRequest: null },
  publisher: { maxRetriesPerRequest: 3 },
  subscriber: { maxRetriesPerRequest: null },
  ingest: { maxRetriesPerRequest: null },
};

export function createRedis(url: string, role: RedisRole, logger: Logger, name = 'patternwire'): Redis {
  const client = new Redis(url, {
    ...roleOptions[role],
    connectionName: `${name}:${role}`,
    // Reconnect forever with a capped delay: Redis restarts must not end a process.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
  });
  // ioredis emits 'error' on every failed reconnect; an unhandled one would crash the process.
  const report = throttled(logger.error);
  client.on('error', (err: Error) => report(`[redis:${role}] ${err.message}`));
  return client;
}

/** Resolves when Redis answers PING, rejects after `timeoutMs` with a sentence a user can act on. */
export async function waitForRedis(client: Redis, url: string, timeoutMs = 3_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Redis at ${url} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([client.ping(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
