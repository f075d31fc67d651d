import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createApiServer, type ApiServer } from '../api/server.js';
import { createLiveHub } from '../api/live-hub.js';
import { createAlertRouter } from '../api/alert-router.js';
import type { Config } from '../config/env.js';
import { createDatabase, type Database } from '../db/client.js';
import { createPubSub, type AlertPubSub } from '../pubsub/pubsub.js';
import { createRedis, waitForRedis } from '../redis/connections.js';
import { createRateLimit } from '../redis/rate-limit.js';
import { createAuthenticator } from '../auth/authenticator.js';
import { createSessions } from '../auth/sessions.js';
import { countNotification, enableProcessMetrics, watchQueues } from '../metrics/metrics.js';
import { serveMetrics } from '../metrics/http.js';
import { createDetectionWriter } from '../workers/store/detection-writer.js';
import { createPubSubReader, type Reader } from '../workers/ingest/pubsub-reader.js';
import { createJobIntake } from '../workers/ingest/job-intake.js';
import { createStreamReader } from '../workers/ingest/stream-reader.js';
import { createProcessor } from '../workers/store/processor.js';
import { createRejectWriter } from '../workers/store/reject-writer.js';
import { createQueues, enqueueDeliveries, everyQueue, type Queues } from '../queues/queues.js';
import { createDeliveryEngine } from '../notifications/engine.js';
import { createDeliveryOutbox } from '../notifications/outbox.js';
import type { DeliveryOutcomeListener } from '../notifications/outcomes.js';
import { createNotificationWorker } from '../workers/notify/worker.js';
import { createRetryingJobs } from '../queues/retrying.js';
import { createWorkers } from '../workers/store/workers.js';
import type { Lifecycle } from '../lib/lifecycle.js';
import { throttled, type Logger } from '../lib/logger.js';

export interface Roles {
  api?: boolean;
  ingest?: boolean;
  worker?: boolean;
  /** Apply migrations before starting (the all-in-one process and tests). */
  migrate?: boolean;
}

export interface RunningSystem {
  api: ApiServer | null;
  ingest: Reader | null;
  database: Database | null;
  queues: Queues;
}

/**
 * Starts the roles one process plays, each with its own connections, registering every
 * resource on `lifecycle` in the order that makes reverse teardown correct.
 */
export async function startSystem(config: Config, roles: Roles, lifecycle: Lifecycle, logger: Logger): Promise<RunningSystem> {
  const name = `patternwire:${[roles.api && 'api', roles.ingest && 'ingest', roles.worker && 'worker'].filter(Boolean).join('+')}`;

  const producer = createRedis(config.redis, 'producer', logger, name);
  lifecycle.defer('redis producer', () => void producer.disconnect());
  await waitForRedis(producer, config.redis.clusterNodes ? 'the REDIS_CLUSTER_NODES' : config.redis.url);

  let database: Database | null = null;
  if (roles.api || roles.worker || roles.migrate) {
    database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, logger });
    const db = database;
    lifecycle.defer('database', () => db.close());
    if (roles.migrate) await database.migrate();
  }

  const queues = createQueues(
    producer,
    {
      prefix: config.queuePrefix,
      attempts: config.worker.attempts,
      backoffMs: config.worker.backoffMs,
      completedRetentionSeconds: config.worker.completedRetentionSeconds,
      notificationAttempts: config.notifications.attempts,
    },
    logger,
  );
  lifecycle.defer('queues', () => queues.close());

  // Contract §8: every process counts; the API serves /metrics, a worker or an ingest METRICS_PORT.
  enableProcessMetrics();
  lifecycle.defer('queue metrics', watchQueues(everyQueue(queues)));
  if (config.metricsPort !== undefined && !roles.api) {
    const metrics = await serveMetrics(config.metricsPort, config.host);
    lifecycle.defer('metrics port', () => metrics.close());
    logger.info(`[metrics] Prometheus metrics at http://${config.host}:${metrics.port}/metrics`);
  } else if (config.metricsPort !== undefined) {
    logger.warn('[metrics] METRICS_PORT is not used by a process with the API: its /metrics is on the API port (ADMIN)');
  }

  let pubsub: AlertPubSub | null = null;
  if (roles.api || roles.worker) {
    pubsub = createPubSub(
      createRedis(config.redis, 'publisher', logger, name),
      createRedis(config.redis, 'subscriber', logger, name),
      config.pubsubPrefix,
    );
    const ps = pubsub;
    lifecycle.defer('pubsub', () => ps.close());
  }

  if (roles.worker && database && pubsub) {
    const connection = createRedis(config.redis, 'worker', logger, name);
    lifecycle.defer('redis worker', () => void connection.disconnect());
    const rejects = createRejectWriter({
      db: database.db,
      logger,
      retentionDays: config.rejects.retentionDays,
      maxRows: config.rejects.maxRows,
    });
    lifecycle.defer('reject retention', () => rejects.close());
    const notify = config.notifications;
    /**
     * Every status a notification delivery is given passes here once (SUPPRESSED from the
     * outbox, DELIVERED / RETRYING / FAILED from the engine's settle): the place to count
     * `patternwire_notifications_total{channel,status}`.
     */
    const notificationOutcome: DeliveryOutcomeListener = (channel, status) => countNotification(channel, status);
    // Sending has its own pool: deliveries never wait for, nor hold, the writer's connections.
    // PGlite is one process's single connection, shared.
    const notifyDatabase =
      database.kind === 'pglite'
        ? database
        : await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: notify.dbPoolSize, logger });
    if (notifyDatabase !== database) lifecycle.defer('notification database', () => notifyDatabase.close());
    const engine = createDeliveryEngine({ database: notifyDatabase, settings: notify, logger, onOutcome: notificationOutcome });
    lifecycle.defer('notification senders', () => engine.close());
    const outbox = createDeliveryOutbox({
      enqueue: (deliveries) => enqueueDeliveries(queues.notifications, deliveries),
      capWindowMs: notify.capWindowMs,
      logger,
      onOutcome: notificationOutcome,
    });
    const workers = await createWorkers({
      connection,
      prefix: config.queuePrefix,
      concurrency: config.worker.concurrency,
      backoffMs: config.worker.backoffMs,
      backoffMaxMs: config.worker.backoffMaxMs,
      process: createProcessor({
        db: database.db,
        pubsub,
        detections: createDetectionWriter({ database, pubsub, outbox }),
        channels: config.channels,
        logger,
      }),
      processRejects: (job) => rejects.process(job),
      logger,
      retrying: createRetryingJobs(connection, config.queuePrefix),
    });
    await workers.ready();
    lifecycle.defer('workers (draining jobs in flight)', () => workers.close());
    const notifications = createNotificationWorker({
      connection,
      prefix: config.queuePrefix,
      engine,
      db: notifyDatabase.db,
      queue: queues.notifications,
      concurrency: notify.concurrency,
      backoffMs: notify.backoffMs,
      sweepMs: notify.sweepMs,
      logger,
    });
    await notifications.ready();
    lifecycle.defer('notification worker (finishing sends in flight)', () => notifications.close());
  }

  let api: ApiServer | null = null;
  if (roles.api && database && pubsub) {
    const hub = await createLiveHub({ pubsub, queueLimit: config.subscriberQueueLimit });
    lifecycle.defer('live hub', () => hub.close());
    const alerts = createAlertRouter({
      db: database.db,
      hub,
      pubsub,
      queueLimit: config.subscriberQueueLimit,
      logger,
    });
    lifecycle.defer('alert router', () => alerts.close());
    api = await createApiServer({
      database,
      queues,
      hub,
      alerts,
      inboxReplayMax: config.inboxReplayMax,
      retrying: createRetryingJobs(producer, config.queuePrefix),
      retryAlertMs: config.retryAlertMs,
      redis: producer,
      auth: createAuthenticator({ db: database.db, mode: config.auth.mode, jwt: config.auth.jwt, logger }),
      sessions: createSessions({ redis: producer, db: database.db, prefix: config.queuePrefix }),
      rateLimit: {
        limit: createRateLimit(producer, {
          prefix: config.queuePrefix,
          ...config.auth.rateLimit,
          onUnavailable: throttled((reason) => logger.warn(`[api] rate limit not applied (${reason}): requests are let through`)),
        }),
        ...config.auth.rateLimit,
      },
      sockets: { maxPerUser: config.auth.maxSocketsPerUser, recheckMs: config.auth.recheckMs },
      port: config.port,
      host: config.host,
      limits: config.limits,
      logger,
      http: config.http,
      notify: { database, queue: queues.notifications, settings: config.notifications },
    });
    const server = api;
    lifecycle.defer('api (sockets closed with 1001)', () => server.close());
  }

  let ingest: Reader | null = null;
  if (roles.ingest) {
    const intake = createJobIntake({ queues, channels: config.channels, logger });
    const { patterns, backtestProgress, backtestResults, health } = config.channels;
    const channels = [patterns, backtestProgress, backtestResults, health];
    const subscriber = createRedis(config.redis, 'ingest', logger, name);
    lifecycle.defer('redis ingest', () => void subscriber.disconnect());
    ingest = createPubSubReader({ subscriber, intake, channels });
    await ingest.start();
    const pubsubIngest = ingest;
    lifecycle.defer('ingest', () => pubsubIngest.stop());
    if (config.streams.enabled) {
      const streams = createStreamReader({
        connect: () => createRedis(config.redis, 'stream', logger, name),
        intake,
        streams: channels,
        group: config.streams.group,
        consumer: `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
        claimIdleMs: config.streams.claimIdleMs,
        logger,
        backpressure: {
          max: config.streams.maxQueuedJobs,
          async queuedJobs() {
            const c = await queues.detections.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
            return Object.values(c).reduce((a, b) => a + b, 0);
          },
        },
      });
      await streams.start();
      lifecycle.defer('stream ingest', () => streams.stop());
    }
  }

  return { api, ingest, database, queues };
}
