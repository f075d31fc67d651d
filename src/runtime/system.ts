import { createApiServer, type ApiServer } from '../api/server.js';
import { createLiveHub } from '../api/live-hub.js';
import type { Config } from '../config/env.js';
import { createDatabase, type Database } from '../db/client.js';
import { createPubSub, type AlertPubSub } from '../pubsub/topics.js';
import { createRedis, waitForRedis } from '../redis/connections.js';
import { createDetectionWriter } from '../workers/detection-writer.js';
import { createIngest, type Ingest } from '../workers/ingest.js';
import { createProcessor } from '../workers/processor.js';
import { createQueues, type Queues } from '../workers/queues.js';
import { createWorkers } from '../workers/worker.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';

export interface Roles {
  api?: boolean;
  ingest?: boolean;
  worker?: boolean;
  /** Apply migrations before starting (the all-in-one process and tests). */
  migrate?: boolean;
}

export interface RunningSystem {
  api: ApiServer | null;
  ingest: Ingest | null;
  database: Database | null;
  queues: Queues;
}

/** Per-subscriber bound on undelivered events before a slow subscription is dropped. */
const SUBSCRIBER_QUEUE_LIMIT = 10_000;

/**
 * Starts the roles one process plays, each with its own connections, registering every
 * resource on `lifecycle` in the order that makes reverse teardown correct.
 */
export async function startSystem(config: Config, roles: Roles, lifecycle: Lifecycle, logger: Logger): Promise<RunningSystem> {
  const name = `patternwire:${[roles.api && 'api', roles.ingest && 'ingest', roles.worker && 'worker'].filter(Boolean).join('+')}`;

  const producer = createRedis(config.redisUrl, 'producer', logger, name);
  lifecycle.defer('redis producer', () => void producer.disconnect());
  await waitForRedis(producer, config.redisUrl);

  let database: Database | null = null;
  if (roles.api || roles.worker || roles.migrate) {
    database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, logger });
    const db = database;
    lifecycle.defer('database', () => db.close());
    if (roles.migrate) await database.migrate();
  }

  const queues = createQueues(producer, {
    prefix: config.queuePrefix,
    attempts: config.worker.attempts,
    backoffMs: config.worker.backoffMs,
    completedRetentionSeconds: config.worker.completedRetentionSeconds,
  });
  lifecycle.defer('queues', () => queues.close());

  let pubsub: AlertPubSub | null = null;
  if (roles.api || roles.worker) {
    pubsub = createPubSub(
      createRedis(config.redisUrl, 'publisher', logger, name),
      createRedis(config.redisUrl, 'subscriber', logger, name),
      config.pubsubPrefix,
    );
    const ps = pubsub;
    lifecycle.defer('pubsub', () => ps.close());
  }

  if (roles.worker && database && pubsub) {
    const connection = createRedis(config.redisUrl, 'worker', logger, name);
    lifecycle.defer('redis worker', () => void connection.disconnect());
    const workers = await createWorkers({
      connection,
      prefix: config.queuePrefix,
      concurrency: config.worker.concurrency,
      backoffMs: config.worker.backoffMs,
      backoffMaxMs: config.worker.backoffMaxMs,
      process: createProcessor({ db: database.db, pubsub, detections: createDetectionWriter({ database, pubsub }) }),
      logger,
      onFailed: (job, err) => {
        // Every retry lands here; say only what needs a human: bad data and the last attempt.
        if (job && (err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1))) {
          logger.warn(`[worker] job ${job.id} (${job.name}) failed for good: ${err.message}`);
        }
      },
    });
    await workers.ready();
    lifecycle.defer('workers (draining jobs in flight)', () => workers.close());
  }

  let api: ApiServer | null = null;
  if (roles.api && database && pubsub) {
    const hub = await createLiveHub({ pubsub, queueLimit: SUBSCRIBER_QUEUE_LIMIT });
    lifecycle.defer('live hub', () => hub.close());
    api = await createApiServer({ database, queues, hub, redis: producer, port: config.port, host: config.host, logger });
    const server = api;
    lifecycle.defer('api (sockets closed with 1001)', () => server.close());
  }

  let ingest: Ingest | null = null;
  if (roles.ingest) {
    const subscriber = createRedis(config.redisUrl, 'ingest', logger, name);
    lifecycle.defer('redis ingest', () => void subscriber.disconnect());
    ingest = createIngest({ subscriber, queues, channels: config.channels, logger });
    await ingest.start();
    const running = ingest;
    lifecycle.defer('ingest', () => running.stop());
  }

  return { api, ingest, database, queues };
}
