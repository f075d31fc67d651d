/**
 * The `notifications` queue's own BullMQ worker (contract §7), apart from the detection
 * workers: its own concurrency, its own connection and database pool, so a receiver that
 * hangs holds a notification slot and nothing of the detection pipeline. One job per delivery;
 * a RETRYING attempt throws, and BullMQ tries again after `backoffMs`, doubling (10 attempts
 * over about two hours by default). A worker killed mid-send leaves its job stalled; BullMQ
 * gives it to another worker, which sends it again with the same `webhook-id`.
 *
 * Also the outbox's relay sweep: deliveries still PENDING after `sweepMs` (a writer died
 * between recording them and adding their jobs) are added again, under the same job id.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { DrizzleDb } from '../../db/client.js';
import { findPending } from '../../db/notifications.js';
import { retryDelayMs } from '../../domain/notifications.js';
import { throttled, type Logger } from '../../lib/logger.js';
import type { DeliveryEngine } from '../../notifications/engine.js';
import { enqueueDeliveries, QUEUE_NAMES, type NotificationQueue } from '../../queues/queues.js';
import type { RedisClient } from '../../redis/connections.js';
import { notificationJobSchemas } from '../../schema/jobs.js';

export interface NotificationWorkerOptions {
  /** A `worker`-role connection (maxRetriesPerRequest: null). */
  connection: RedisClient;
  prefix: string;
  engine: DeliveryEngine;
  /** For the sweep (the engine's pool). */
  db: DrizzleDb;
  /** Where the sweep adds jobs again. */
  queue: NotificationQueue;
  concurrency: number;
  backoffMs: number;
  sweepMs: number;
  /** On close, how long sends in flight may take to finish before they are cut (and retried later). */
  closeGraceMs?: number;
  logger: Logger;
}

export interface NotificationWorker {
  ready(): Promise<void>;
  /** Stops taking jobs and the sweep, and waits for the sends in flight. */
  close(): Promise<void>;
}

const SWEEP_BATCH = 1_000;

export function createNotificationWorker(o: NotificationWorkerOptions): NotificationWorker {
  const report = throttled(o.logger.error);

  async function process(job: Job): Promise<void> {
    const parsed = notificationJobSchemas.deliver.safeParse(job.data);
    if (job.name !== 'deliver' || !parsed.success) throw new UnrecoverableError(`job ${job.id} (${job.name}) is no delivery job`);
    const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const outcome = await o.engine.attempt(parsed.data.deliveryId, final);
    // Thrown so BullMQ's state says it too: a retry after backoff, or failed for good.
    if (outcome.status === 'RETRYING') throw new Error(outcome.error ?? 'retrying');
    if (outcome.status === 'FAILED') throw new UnrecoverableError(outcome.error ?? 'failed');
  }

  const worker = new Worker(QUEUE_NAMES.notifications, process, {
    connection: o.connection,
    prefix: o.prefix,
    concurrency: o.concurrency,
    settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(attemptsMade, o.backoffMs) },
    // A worker killed mid-send: its job goes back to the queue (and is sent again, same id).
    maxStalledCount: 10,
    stalledInterval: 5_000,
    lockDuration: 15_000,
  });
  worker.on('error', (err) => report(`[notify] ${err.message}`));

  let sweeping: Promise<void> | null = null;
  async function sweep(): Promise<void> {
    const pending = await findPending(o.db, o.sweepMs, SWEEP_BATCH);
    await enqueueDeliveries(o.queue, pending);
  }
  const timer = setInterval(() => {
    sweeping ??= sweep()
      .catch((err: Error) => report(`[notify] sweep: ${err.message}`))
      .finally(() => (sweeping = null));
  }, o.sweepMs);
  timer.unref();

  return {
    ready: () => worker.waitUntilReady().then(() => undefined),
    async close() {
      clearInterval(timer);
      await sweeping;
      const closing = worker.close(o.connection.status !== 'ready');
      // A receiver that hangs would hold the shutdown for NOTIFY_TIMEOUT_MS: past the grace, its
      // call is cut; the attempt is RETRYING, and a later one sends it, with the same webhook-id.
      let grace: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        closing.then(() => true),
        new Promise<boolean>((resolve) => (grace = setTimeout(() => resolve(false), o.closeGraceMs ?? 3_000))),
      ]);
      clearTimeout(grace);
      if (!finished) o.engine.close();
      await closing;
    },
  };
}
