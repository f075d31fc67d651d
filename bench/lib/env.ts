/**
 * The benchmark's private corner of the shared services: a fresh PostgreSQL database, a BullMQ
 * prefix, a pub/sub prefix and channel names nobody else uses; all removed by the cleanup.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Cleanup } from './cleanup.js';
import { deleteRedisKeys } from '../../test/utils/resources.js';

export const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const ADMIN_DATABASE_URL =
  process.env['BENCH_DATABASE_URL'] ?? process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchEnv {
  /** Unique per invocation, in every name the benchmark creates. */
  id: string;
  redisUrl: string;
  databaseUrl: string;
  databaseName: string;
  queuePrefix: string;
  /** The channel Patternwire's ingest hears detections on. */
  patternsChannel: string;
  /** The channel the baseline relay hears (its own, so only the system under test works). */
  baselineChannel: string;
  /** Environment for every Patternwire child (PORT is added per process). */
  patternwireEnv: Record<string, string>;
}

export async function createBenchEnv(cleanup: Cleanup): Promise<BenchEnv> {
  const id = `pwb${randomBytes(3).toString('hex')}`;
  const databaseName = `${id}_bench`;

  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${databaseName}`);
  } finally {
    await admin.end();
  }
  cleanup.register({ database: databaseName, adminUrl: ADMIN_DATABASE_URL });
  cleanup.add(`drop database ${databaseName}`, async () => {
    const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  });
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${databaseName}`;

  const queuePrefix = `{${id}}`;
  cleanup.register({ redisPattern: `${queuePrefix}*`, redisUrl: REDIS_URL });
  cleanup.add(`delete Redis keys ${queuePrefix}*`, () => deleteRedisKeys(REDIS_URL, `${queuePrefix}*`));
  // The channels' streams (INGEST_STREAMS: the ingest creates its consumer group on each).
  const channelKeys = `${id}.*`;
  cleanup.register({ redisPattern: channelKeys, redisUrl: REDIS_URL });
  cleanup.add(`delete Redis keys ${channelKeys}`, () => deleteRedisKeys(REDIS_URL, channelKeys));

  const patternwireEnv: Record<string, string> = {
    REDIS_URL,
    DATABASE_URL: url.toString(),
    HOST: '127.0.0.1',
    QUEUE_PREFIX: queuePrefix,
    PUBSUB_PREFIX: id,
    CHANNEL_PATTERNS: `${id}.patterns`,
    CHANNEL_BACKTEST_PROGRESS: `${id}.backtest.progress`,
    CHANNEL_BACKTEST_RESULTS: `${id}.backtest.results`,
    CHANNEL_HEALTH: `${id}.health`,
    LOG_LEVEL: 'warn',
    // The throughput scenario publishes to the stream (--throughput-via xadd); the others PUBLISH.
    INGEST_STREAMS: 'true',
    // Authentication on, as deployed: every client signs in with the bench user's token. The
    // load generator is one credential opening up to a thousand sockets and hundreds of
    // requests a second, so its per-credential limits are lifted; what is measured is delivery.
    AUTH_MODE: 'required',
    WS_MAX_PER_USER: '100000',
    RATE_LIMIT_PER_SECOND: '1000000',
    RATE_LIMIT_BURST: '1000000',
  };
  return {
    id,
    redisUrl: REDIS_URL,
    databaseUrl: url.toString(),
    databaseName,
    queuePrefix,
    patternsChannel: patternwireEnv['CHANNEL_PATTERNS']!,
    baselineChannel: `${id}.baseline.patterns`,
    patternwireEnv,
  };
}
