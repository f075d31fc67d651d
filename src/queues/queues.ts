import { Queue, type JobsOptions } from 'bullmq';
import { createHash } from 'node:crypto';
import { throttled, type Logger } from '../lib/logger.js';
import type { RedisClient } from '../redis/connections.js';
import type { InboundEvent } from '../schema/events.js';
import type { ControlJobs, DetectionJobs, NotificationJobs, RejectJobs } from '../schema/jobs.js';

/** See `schema/jobs.ts` for what each queue carries and why there are four. */
export const QUEUE_NAMES = {
  detections: 'detections',
  control: 'control',
  rejects: 'rejects',
  notifications: 'notifications',
} as const;

export type DetectionQueue = Queue<DetectionJobs[keyof DetectionJobs], void, keyof DetectionJobs>;
export type ControlQueue = Queue<ControlJobs[keyof ControlJobs], void, keyof ControlJobs>;
export type RejectQueue = Queue<RejectJobs[keyof RejectJobs], void, keyof RejectJobs>;
export type NotificationQueue = Queue<NotificationJobs[keyof NotificationJobs], void, keyof NotificationJobs>;

export interface Queues {
  detections: DetectionQueue;
  control: ControlQueue;
  rejects: RejectQueue;
  notifications: NotificationQueue;
  close(): Promise<void>;
}

/** Every queue, for what watches them all (metrics, the queue board). */
export function everyQueue(q: Queues): [DetectionQueue, ControlQueue, RejectQueue, NotificationQueue] {
  return [q.detections, q.control, q.rejects, q.notifications];
}

export interface QueueSettings {
  prefix: string;
  attempts: number;
  backoffMs: number;
  completedRetentionSeconds: number;
  /** Attempts of a notification delivery (contract §7: 10); the worker's backoff spaces them. */
  notificationAttempts?: number;
}

export function defaultJobOptions(s: QueueSettings): JobsOptions {
  return {
    attempts: s.attempts,
    // Capped in the worker's backoffStrategy; 'custom' lets the worker own the curve.
    backoff: { type: 'custom', delay: s.backoffMs },
    // Kept long enough that a publisher retry or a second ingest replica hits the same job id
    // (and so is a no-op), then trimmed so Redis does not grow forever.
    removeOnComplete: { age: s.completedRetentionSeconds, count: 1_000_000 },
    // Failed jobs are kept for inspection and retry; only bad data (UnrecoverableError) lands there quickly.
    removeOnFail: { age: 7 * 86_400 },
  };
}

/** Uses the caller's connection (the `producer` role); closing the queues leaves it open. */
export function createQueues(connection: RedisClient, settings: QueueSettings, logger: Logger): Queues {
  const opts = { connection, prefix: settings.prefix, defaultJobOptions: defaultJobOptions(settings) };
  const detections: DetectionQueue = new Queue(QUEUE_NAMES.detections, opts);
  const control: ControlQueue = new Queue(QUEUE_NAMES.control, opts);
  const rejects: RejectQueue = new Queue(QUEUE_NAMES.rejects, opts);
  const notifications: NotificationQueue = new Queue(QUEUE_NAMES.notifications, {
    connection,
    prefix: settings.prefix,
    defaultJobOptions: {
      attempts: settings.notificationAttempts ?? 10,
      backoff: { type: 'custom' },
      // A settled delivery's job id stays a day, so a late re-add (the sweep) is a no-op.
      removeOnComplete: { age: 86_400, count: 100_000 },
      removeOnFail: { age: 7 * 86_400 },
    },
  });
  const all = [detections, control, rejects, notifications] as Queue[];
  // Without a listener BullMQ prints every reconnect failure in full, past LOG_LEVEL.
  const report = throttled(logger.error);
  for (const q of all) q.on('error', (err) => report(`[queue:${q.name}] ${err.message}`, { queue: q.name }));
  return {
    detections,
    control,
    rejects,
    notifications,
    async close() {
      await Promise.all(all.map((q) => q.close()));
    },
  };
}

/**
 * BullMQ job ids may not contain ':' and must not look like integers; publisher ids are
 * arbitrary text, so anything outside a safe alphabet is hashed.
 */
export function jobIdFor(kind: InboundEvent['kind'] | 'rejected', eventId: string): string {
  const safe = /^[A-Za-z0-9._-]{1,128}$/.test(eventId) ? eventId : `h${createHash('sha256').update(eventId).digest('hex')}`;
  return `${kind}-${safe}`;
}

/** The job of a notification delivery: one per delivery, so adding it twice is a no-op. */
export const deliveryJobId = (deliveryId: number) => `delivery-${deliveryId}`;

/**
 * Adds the jobs of deliveries (idempotent by job id). A digest waits until it is due; the rest
 * go at once.
 */
export async function enqueueDeliveries(
  queue: NotificationQueue,
  deliveries: readonly { id: number; dueAt: Date | null }[],
): Promise<void> {
  if (deliveries.length === 0) return;
  const now = Date.now();
  await queue.addBulk(
    deliveries.map((d) => ({
      name: 'deliver' as const,
      data: { deliveryId: d.id },
      opts: { jobId: deliveryJobId(d.id), delay: d.dueAt ? Math.max(0, d.dueAt.getTime() - now) : 0 },
    })),
  );
}
