/**
 * The job maps: for each queue, job name → job data. Each job's data is one of the events of
 * `events.ts`, and its schema is that event's; the names are the event kinds.
 *
 * Two queues, because they need different ordering:
 * - `detections` (detection batches and rejects) runs at full concurrency on every worker;
 * - `control` (backtest progress/results, publisher health) runs one job at a time across all
 *   workers (global concurrency 1), so a `jobId` subscriber sees progress in order.
 */
import {
  backtestProgressEventSchema,
  backtestResultEventSchema,
  detectionBatchSchema,
  healthEventSchema,
  rejectedMessageSchema,
} from './events.js';
import type { z } from 'zod';

export const detectionJobSchemas = {
  detections: detectionBatchSchema,
  rejected: rejectedMessageSchema,
} as const;

export const controlJobSchemas = {
  backtestProgress: backtestProgressEventSchema,
  backtestResult: backtestResultEventSchema,
  health: healthEventSchema,
} as const;

export type DetectionJobs = { [K in keyof typeof detectionJobSchemas]: z.infer<(typeof detectionJobSchemas)[K]> };
export type ControlJobs = { [K in keyof typeof controlJobSchemas]: z.infer<(typeof controlJobSchemas)[K]> };

/** Every job name the workers know, with the schema its data must pass. */
export const jobDataSchemas = { ...detectionJobSchemas, ...controlJobSchemas } as const;
export type JobName = keyof typeof jobDataSchemas;
export type JobData = DetectionJobs[keyof DetectionJobs] | ControlJobs[keyof ControlJobs];
