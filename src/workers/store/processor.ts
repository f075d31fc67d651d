import { UnrecoverableError, type Job } from 'bullmq';
import type { Channels } from '../../config/env.js';
import { storeBacktestProgress, storeBacktestResult } from '../../db/backtests.js';
import type { DrizzleDb } from '../../db/client.js';
import { databaseMessage, isDataError } from '../../db/errors.js';
import { storePublisherHealth } from '../../db/publisher-health.js';
import { storeRejection } from '../../db/rejections.js';
import { classifyDetection } from '../../domain/classify.js';
import { rejectionOf } from '../../domain/rejection.js';
import type { Logger } from '../../lib/logger.js';
import { inboundCounters } from '../../metrics/metrics.js';
import type { AlertPubSub } from '../../pubsub/pubsub.js';
import type { BacktestProgressEvent, BacktestResultEvent, HealthEvent, PatternEvent } from '../../schema/events.js';
import { jobDataSchemas, type JobData } from '../../schema/jobs.js';
import type { DetectionWriter } from './detection-writer.js';

export interface ProcessorDeps {
  db: DrizzleDb;
  pubsub: AlertPubSub;
  detections: DetectionWriter;
  /** To name the channel of a message the database refused. */
  channels: Channels;
  logger: Logger;
}

/**
 * The work of one job: classify, persist, then publish — in that order, so a client can
 * query whatever it was sent. Bad job data fails at once (UnrecoverableError). A value the
 * database refuses (a data error, by SQLSTATE) is rejected alone: stored as a rejected event
 * with the database's reason, never retried, while the rest of its job is stored as usual.
 * Anything else (database or Redis unreachable, a timeout, a deadlock) throws, and BullMQ
 * retries with backoff.
 */
export function createProcessor({ db, pubsub, detections, channels, logger }: ProcessorDeps) {
  const channelOf = {
    pattern: channels.patterns,
    backtestProgress: channels.backtestProgress,
    backtestResult: channels.backtestResults,
    health: channels.health,
  };
  // The worker's part of patternwire_inbound_messages_total: duplicates and the database's refusals.
  const inbound = {
    pattern: inboundCounters(channels.patterns),
    backtestProgress: inboundCounters(channels.backtestProgress),
    backtestResult: inboundCounters(channels.backtestResults),
    health: inboundCounters(channels.health),
  };

  /** Stores a normalised event the database refused, as a rejected message of its channel. */
  async function reject(
    event: PatternEvent | BacktestProgressEvent | BacktestResultEvent | HealthEvent,
    reason: string,
    jobId: string | undefined,
  ) {
    // The raw bytes are the ingest's; what the job holds is the normalised event, kept instead.
    const payload = Buffer.from(JSON.stringify(event));
    const channel = channelOf[event.kind];
    await storeRejection(db, rejectionOf(channel, payload, `the database refused it: ${reason}`, new Date(event.receivedAt)));
    inbound[event.kind].rejected.inc();
    logger.warn(`[worker] the database refused message ${event.eventId}; stored as rejected: ${reason}`, {
      jobId,
      eventId: event.eventId,
      channel,
    });
  }

  /** Runs `store`; a data error rejects `event` instead of failing the job. */
  async function storeOrReject<T>(
    event: BacktestProgressEvent | BacktestResultEvent | HealthEvent,
    jobId: string | undefined,
    store: () => Promise<T>,
  ): Promise<T | null> {
    try {
      return await store();
    } catch (err) {
      if (!isDataError(err)) throw err;
      await reject(event, databaseMessage(err), jobId);
      return null;
    }
  }

  async function run(event: JobData, jobId: string | undefined): Promise<void> {
    switch (event.kind) {
      case 'detections': {
        // A duplicate message stores nothing and so publishes nothing (see the writer). The job
        // completes only when all of them are stored and published (or refused); a retry
        // re-offers them all, and the ones already stored are skipped.
        const outcomes = await Promise.all(
          event.events.map((e) => detections.write({ event: e, classification: classifyDetection(e) })),
        );
        let duplicates = 0;
        for (const [i, outcome] of outcomes.entries()) {
          if (!outcome.stored) await reject(event.events[i]!, outcome.refused, jobId);
          else if (outcome.duplicate) duplicates++;
        }
        if (duplicates > 0) inbound.pattern.duplicate.inc(duplicates);
        return;
      }
      case 'backtestProgress': {
        const stored = await storeOrReject(event, jobId, () => storeBacktestProgress(db, event));
        if (stored) await pubsub.publish('backtestProgress', stored);
        return;
      }
      case 'backtestResult': {
        const stored = await storeOrReject(event, jobId, () => storeBacktestResult(db, event));
        if (stored) await pubsub.publish('backtestResult', stored);
        return;
      }
      case 'health': {
        const stored = await storeOrReject(event, jobId, () => storePublisherHealth(db, event));
        if (stored) await pubsub.publish('systemHealth', stored);
        return;
      }
      case 'rejected':
        await storeRejection(db, event);
        return;
    }
  }

  return async function process(job: Job<JobData, void, string>): Promise<void> {
    const schema = Object.hasOwn(jobDataSchemas, job.name) ? jobDataSchemas[job.name as keyof typeof jobDataSchemas] : undefined;
    if (!schema) throw new UnrecoverableError(`unknown job name "${job.name}"`);
    const parsed = schema.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(`job ${job.id} (${job.name}) has invalid data: ${parsed.error.issues[0]?.message}`);
    }
    try {
      await run(parsed.data, job.id);
    } catch (err) {
      // A data error that could not be set aside (in a rejection itself) fails at once: a retry would fail the same way.
      if (isDataError(err))
        throw new UnrecoverableError(`job ${job.id} (${job.name}): the database refused its data: ${databaseMessage(err)}`);
      // A fault is retried; its reason (logged, and kept on the job) is what the database said.
      if (err instanceof Error && err.message.startsWith('Failed query:')) throw new Error(databaseMessage(err), { cause: err });
      throw err;
    }
  };
}
