import { Queue, Worker, type Job } from 'bullmq';
import type { RedisClient } from '../../redis/connections.js';
import { throttled, type Logger } from '../../lib/logger.js';
import { jobDuration } from '../../metrics/metrics.js';
import { QUEUE_NAMES } from '../../queues/queues.js';
import type { RetryingJobs } from '../../queues/retrying.js';

export interface WorkersOptions {
  /** A `worker`-role connection (maxRetriesPerRequest: null); BullMQ duplicates it for blocking reads. */
  connection: RedisClient;
  prefix: string;
  concurrency: number;
  backoffMs: number;
  backoffMaxMs: number;
  process: (job: Job) => Promise<void>;
  /** Where jobs waiting for a retry are listed, for `systemHealth`. */
  retrying: RetryingJobs;
  /** The processor of the `rejects` queue. */
  processRejects: (job: Job) => Promise<void>;
  /** Rejects jobs at once per process: few, so rejects never take the database from detections. */
  rejectConcurrency?: number;
  logger: Logger;
}

export interface Workers {
  /** Stops taking jobs and waits for the ones in flight. */
  close(): Promise<void>;
  /** Resolves once every worker is connected and taking jobs. */
  ready(): Promise<void>;
}

/** `process`, observed into patternwire_job_duration_seconds{queue} per attempt, failed or not. */
function timed(queue: string, process: (job: Job) => Promise<void>): (job: Job) => Promise<void> {
  const observe = jobDuration.labels(queue);
  return async (job) => {
    const end = observe.startTimer();
    try {
      await process(job);
    } finally {
      end();
    }
  };
}

export async function createWorkers(o: WorkersOptions): Promise<Workers> {
  // Control jobs run one at a time across every worker process, so progress stays in order.
  // Set before any worker starts taking jobs.
  const controlQueue = new Queue(QUEUE_NAMES.control, { connection: o.connection, prefix: o.prefix });
  await controlQueue.setGlobalConcurrency(1);
  await controlQueue.close();

  const settings = {
    connection: o.connection,
    prefix: o.prefix,
    // Exponential with a cap: a long database outage retries every `backoffMaxMs`, never gives up early.
    settings: {
      backoffStrategy: (attemptsMade: number) => Math.min(o.backoffMs * 2 ** Math.max(0, attemptsMade - 1), o.backoffMaxMs),
    },
    // A worker killed mid-job leaves it "stalled"; it goes back to the queue rather than failing.
    maxStalledCount: 100,
    stalledInterval: 5_000,
    lockDuration: 15_000,
  };
  const detections = new Worker(QUEUE_NAMES.detections, timed(QUEUE_NAMES.detections, o.process), {
    ...settings,
    concurrency: o.concurrency,
  });
  const control = new Worker(QUEUE_NAMES.control, timed(QUEUE_NAMES.control, o.process), { ...settings, concurrency: 1 });
  // Their own worker and slots: a flood of rejects never waits in front of, or takes the slots
  // of, a detection.
  const rejects = new Worker(QUEUE_NAMES.rejects, timed(QUEUE_NAMES.rejects, o.processRejects), {
    ...settings,
    concurrency: o.rejectConcurrency ?? 2,
  });
  const all = [detections, control, rejects];
  const report = throttled(o.logger.error);

  /**
   * Bad data (UnrecoverableError) and the last attempt are said once. A fault that will be
   * retried is said at the 1st, 10th, 100th … attempt with its cause, not at every one: a job
   * retrying through a long outage would otherwise fill the log.
   */
  async function reportFailure(queue: string, job: Job | undefined, err: Error): Promise<void> {
    if (!job?.id) return;
    const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) {
      o.logger.warn(`[worker] job ${job.id} (${job.name}) failed for good after ${job.attemptsMade} attempt(s): ${err.message}`, {
        jobId: job.id,
        queue,
      });
      await o.retrying.settled(queue, job.id);
      return;
    }
    if (Number.isInteger(Math.log10(job.attemptsMade))) {
      o.logger.warn(`[worker] job ${job.id} (${job.name}) failed (attempt ${job.attemptsMade}), will retry: ${err.message}`, {
        jobId: job.id,
        queue,
      });
    }
    await o.retrying.failed(queue, job.id, Date.now());
  }
  for (const w of all) {
    w.on('failed', (job, err) => void reportFailure(w.name, job, err).catch((e: Error) => report(`[worker] ${e.message}`)));
    w.on('completed', (job) => {
      // Only a job that had failed before is listed; a first-time success costs no round trip.
      if (job.attemptsStarted > 1 && job.id)
        void o.retrying.settled(w.name, job.id).catch((e: Error) => report(`[worker] ${e.message}`));
    });
    // Connection errors are reported here too; they must not crash the process.
    w.on('error', (err) => report(`[worker:${w.name}] ${err.message}`, { queue: w.name }));
  }
  return {
    async ready() {
      await Promise.all(all.map((w) => w.waitUntilReady()));
    },
    async close() {
      // With Redis gone a graceful close never returns (BullMQ QUITs connections that never give
      // up on a command), and nothing in flight could be acknowledged anyway: close at once.
      // A job cut short stays in Redis and is retried as stalled.
      const force = o.connection.status !== 'ready';
      await Promise.all(all.map((w) => w.close(force)));
    },
  };
}
