import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis/connections.js';
import { throttled, type Logger } from '../lib/logger.js';
import type {
  BacktestProgressEvent,
  BacktestResultEvent,
  HealthEvent,
  InboundEvent,
  PatternBatch,
  PatternEvent,
  RejectedMessage,
} from '../schema/events.js';
import { createHash } from 'node:crypto';

/**
 * Two queues, because they need different ordering:
 * - `detections` (patterns and rejects) runs at full concurrency on every worker;
 * - `control` (backtest progress/results, publisher health) runs one job at a time
 *   across all workers (global concurrency 1), so a `jobId` subscriber sees progress in order.
 */
export interface DetectionJobs {
  patterns: PatternBatch;
  /** One detection per job: what the ingest enqueued before it grouped them; still processed. */
  pattern: PatternEvent;
  rejected: RejectedMessage;
}
export interface ControlJobs {
  backtestProgress: BacktestProgressEvent;
  backtestResult: BacktestResultEvent;
  health: HealthEvent;
}

type JobUnion<M> = { [K in keyof M]: { name: K; data: M[K] } }[keyof M];
export type DetectionJob = JobUnion<DetectionJobs>;
export type ControlJob = JobUnion<ControlJobs>;

export const QUEUE_NAMES = { detections: 'detections', control: 'control' } as const;

export type DetectionQueue = Queue<DetectionJobs[keyof DetectionJobs], void, keyof DetectionJobs & string>;
export type ControlQueue = Queue<ControlJobs[keyof ControlJobs], void, keyof ControlJobs & string>;

export interface Queues {
  detections: DetectionQueue;
  control: ControlQueue;
  close(): Promise<void>;
}

export interface QueueSettings {
  prefix: string;
  attempts: number;
  backoffMs: number;
  completedRetentionSeconds: number;
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
  // Without a listener BullMQ prints every reconnect failure in full, past LOG_LEVEL.
  const report = throttled(logger.error);
  for (const q of [detections, control]) q.on('error', (err) => report(`[queue:${q.name}] ${err.message}`));
  return {
    detections,
    control,
    async close() {
      await Promise.all([detections.close(), control.close()]);
    },
  };
}

/**
 * BullMQ job ids may not contain ':' and must not look like integers; publisher ids are
 * arbitrary text, so anything outside a safe alphabet is hashed.
 */
export function jobIdFor(kind: InboundEvent['kind'] | 'rejected', eventId: string): string {
  const safe = /^[A-Za-z0-9._-]{1,128}$/.test(eventId)
    ? eventId
    : `h${createHash('sha256').update(eventId).digest('hex')}`;
  return `${kind}-${safe}`;
}
