import { UnrecoverableError, type Job } from 'bullmq';
import { storeBacktestProgress, storeBacktestResult } from '../../db/backtests.js';
import type { DrizzleDb } from '../../db/client.js';
import { storePublisherHealth } from '../../db/publisher-health.js';
import { storeRejection } from '../../db/rejections.js';
import { classifyDetection } from '../../domain/classify.js';
import type { AlertPubSub } from '../../pubsub/pubsub.js';
import { jobDataSchemas, type JobData } from '../../schema/jobs.js';
import type { DetectionWriter } from './detection-writer.js';

export interface ProcessorDeps {
  db: DrizzleDb;
  pubsub: AlertPubSub;
  detections: DetectionWriter;
}

/**
 * The work of one job: classify, persist, then publish — in that order, so a client can
 * query whatever it was sent. Bad job data fails at once (UnrecoverableError); anything
 * else (database or Redis unreachable) throws and BullMQ retries with backoff.
 */
export function createProcessor({ db, pubsub, detections }: ProcessorDeps) {
  return async function process(job: Job<JobData, void, string>): Promise<void> {
    const schema = Object.hasOwn(jobDataSchemas, job.name) ? jobDataSchemas[job.name as keyof typeof jobDataSchemas] : undefined;
    if (!schema) throw new UnrecoverableError(`unknown job name "${job.name}"`);
    const parsed = schema.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(`job ${job.id} (${job.name}) has invalid data: ${parsed.error.issues[0]?.message}`);
    }
    const event = parsed.data;
    switch (event.kind) {
      case 'detections':
        // A duplicate message stores nothing and so publishes nothing (see the writer). The job
        // completes only when all of them are stored and published; a retry re-offers them all,
        // and the ones already stored are skipped.
        await Promise.all(event.events.map((e) => detections.write({ event: e, classification: classifyDetection(e) })));
        return;
      case 'backtestProgress': {
        const stored = await storeBacktestProgress(db, event);
        if (stored) await pubsub.publish('backtestProgress', stored);
        return;
      }
      case 'backtestResult': {
        const stored = await storeBacktestResult(db, event);
        if (stored) await pubsub.publish('backtestResult', stored);
        return;
      }
      case 'health':
        await pubsub.publish('systemHealth', await storePublisherHealth(db, event));
        return;
      case 'rejected':
        await storeRejection(db, event);
        return;
    }
  };
}
