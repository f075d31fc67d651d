import { UnrecoverableError, type Job } from 'bullmq';
import { storeBacktestProgress, storeBacktestResult } from '../../db/backtests.js';
import type { Db } from '../../db/client.js';
import { storePublisherHealth } from '../../db/publisher-health.js';
import { storeRejection } from '../../db/rejections.js';
import type { AlertPubSub } from '../../pubsub/pubsub.js';
import { classifyDetection } from '../../domain/classify.js';
import type { DetectionWriter } from './detection-writer.js';
import { jobDataSchemas } from '../../schema/jobs.js';
import type { ControlJobs, DetectionJobs } from '../../queues/queues.js';

type AnyJob = Job<DetectionJobs[keyof DetectionJobs] | ControlJobs[keyof ControlJobs], void, string>;

export interface ProcessorDeps {
  db: Db;
  pubsub: AlertPubSub;
  detections: DetectionWriter;
}

/**
 * The work of one job: classify, persist, then publish — in that order, so a client can
 * query whatever it was sent. Bad job data fails at once (UnrecoverableError); anything
 * else (database or Redis unreachable) throws and BullMQ retries with backoff.
 */
export function createProcessor({ db, pubsub, detections }: ProcessorDeps) {
  return async function process(job: AnyJob): Promise<void> {
    const schema = jobDataSchemas[job.name as keyof typeof jobDataSchemas];
    if (!schema) throw new UnrecoverableError(`unknown job name "${job.name}"`);
    const parsed = schema.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(`job ${job.id} (${job.name}) has invalid data: ${parsed.error.issues[0]?.message}`);
    }
    const event = parsed.data;
    switch (event.kind) {
      case 'patterns':
        // A duplicate message stores nothing and so publishes nothing (see the writer). The job
        // completes only when all of them are stored and published; a retry re-offers them all,
        // and the ones already stored are skipped.
        await Promise.all(event.events.map((e) => detections.write({ event: e, classification: classifyDetection(e) })));
        return;
      case 'pattern':
        await detections.write({ event, classification: classifyDetection(event) });
        return;
      case 'backtestProgress':
        await storeBacktestProgress(db, event);
        await pubsub.publish('backtestProgress', {
          jobId: event.jobId,
          progress: event.progress,
          status: event.status,
          currentSymbol: event.currentSymbol,
          processedSymbols: event.processedSymbols,
          estimatedCompletion: event.estimatedCompletion,
          at: event.at,
        });
        return;
      case 'backtestResult':
        await storeBacktestResult(db, event);
        await pubsub.publish('backtestResult', {
          jobId: event.jobId,
          status: event.status,
          results: event.results,
          processingTimeSeconds: event.processingTimeSeconds,
          at: event.at,
        });
        return;
      case 'health':
        await storePublisherHealth(db, event);
        await pubsub.publish('systemHealth', {
          status: event.status,
          source: event.source,
          metrics: event.metrics,
          at: event.at,
        });
        return;
      case 'rejected':
        await storeRejection(db, event);
        return;
    }
  };
}
