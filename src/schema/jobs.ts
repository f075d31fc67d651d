/**
 * The job maps: for each queue, job name → job data. Each job's data is one of the events of
 * `events.ts`, and its schema is that event's; the names are the event kinds.
 *
 * Four queues, because they need different ordering or must not wait on each other:
 * - `detections` (detection batches) runs at full concurrency on every worker;
 * - `control` (backtest progress/results, publisher health) runs one job at a time across all
 *   workers (global concurrency 1), so a `jobId` subscriber sees progress in order;
 * - `rejects` (batches of rejected messages) has its own workers with a small concurrency, so
 *   a flood of garbage never stands in front of a valid detection nor takes its worker slots;
 * - `notifications` (one job per webhook or email delivery) has its own workers and retries,
 *   so a receiver that hangs or fails never holds up the detection pipeline.
 */
import {
  backtestProgressEventSchema,
  backtestResultEventSchema,
  detectionBatchSchema,
  healthEventSchema,
  rejectBatchSchema,
  rejectedMessageSchema,
} from './events.js';
import { z } from 'zod';

export const detectionJobSchemas = {
  detections: detectionBatchSchema,
  /** One reject per job, as an ingest older than the `rejects` queue still adds them; still stored. */
  rejected: rejectedMessageSchema,
} as const;

export const rejectJobSchemas = {
  rejects: rejectBatchSchema,
} as const;

export const controlJobSchemas = {
  backtestProgress: backtestProgressEventSchema,
  backtestResult: backtestResultEventSchema,
  health: healthEventSchema,
} as const;

/** `notifications`: one job per delivery (contract §7), its own worker, retried with backoff. */
export const notificationJobSchemas = {
  deliver: z.object({ deliveryId: z.number().int().positive() }),
} as const;

export type DetectionJobs = { [K in keyof typeof detectionJobSchemas]: z.infer<(typeof detectionJobSchemas)[K]> };
export type ControlJobs = { [K in keyof typeof controlJobSchemas]: z.infer<(typeof controlJobSchemas)[K]> };
export type RejectJobs = { [K in keyof typeof rejectJobSchemas]: z.infer<(typeof rejectJobSchemas)[K]> };
export type NotificationJobs = { [K in keyof typeof notificationJobSchemas]: z.infer<(typeof notificationJobSchemas)[K]> };

/**
 * Every job name the `detections` and `control` workers know, with the schema its data must
 * pass. The `rejects` queue has a processor of its own (`workers/store/reject-writer.ts`).
 */
export const jobDataSchemas = { ...detectionJobSchemas, ...controlJobSchemas } as const;
export type JobName = keyof typeof jobDataSchemas;
export type JobData = DetectionJobs[keyof DetectionJobs] | ControlJobs[keyof ControlJobs];
