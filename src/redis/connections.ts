import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config/env.js';
import { throttled, type Logger } from '../lib/logger.js';
import { withTimeout } from '../lib/timeout.js';

/** A single server or a Redis Cluster: every component takes either. */
export type RedisClient = Redis | Cluster;

/**
 * One connection per role, each tuned for what it does:
 * - `producer` adds jobs and answers API reads: fail fast rather than hang a request.
 * - `worker` blocks on BullMQ commands: BullMQ requires `maxRetriesPerRequest: null`.
 * - `publisher` / `subscriber` carry GraphQL pub/sub; a subscriber connection can do nothing else.
 * - `ingest` subscribes to the detection engine's channels; `stream` blocks on XREADGROUP.
 */
export type RedisRole = 'producer' | 'worker' | 'publisher' | 'subscriber' | 'ingest' | 'stream';

const roleOptions: Record<RedisRole, RedisOptions> = {
  producer: { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 5_000 },
  worker: { maxRetriesPerRequest: null },
  publisher: { maxRetriesPerRequest: 3 },
  subscriber: { maxRetriesPerRequest: null },
  ingest: { maxRetriesPerRequest: null },
  stream: { maxRetriesPerRequest: null },
};

// Reconnect forever with a capped delay: Redis restarts must not end a process.
const retryStrategy = (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5_000);

export function createRedis(target: RedisTarget, role: RedisRole, logger: Logger, name = 'patternwire'): RedisClient {
  const options: RedisOptions = { ...roleOptions[role], connectionName: `${name}:${role}`, retryStrategy };
  let client: RedisClient;
  if (target.clusterNodes) {
    const { username, password } = new URL(target.url);
    client = new Cluster(target.clusterNodes, {
      redisOptions: { ...options, ...(username && { username }), ...(password && { password: decodeURIComponent(password) }) },
      clusterRetryStrategy: retryStrategy,
      // BullMQ's blocking commands must not be retried by the cluster client either.
      ...(roleOptions[role].maxRetriesPerRequest === null && { maxRetriesPerRequest: null }),
    });
  } else {
    client = new Redis(target.url, options);
  }
  // ioredis emits 'error' on every failed reconnect; an unhandled one would crash the process.
  const report = throttled(logger.error);
  client.on('error', (err: Error) => report(`[redis:${role}] ${err.message}`));
  return client;
}

/** Resolves when Redis answers PING, rejects after `timeoutMs` with a sentence a user can act on. */
export async function waitForRedis(client: RedisClient, where: string, timeoutMs = 3_000): Promise<void> {
  await withTimeout(client.ping(), timeoutMs, `Redis at ${where} did not answer within ${timeoutMs} ms`);
}
