import type { DrizzleDb } from '../db/client.js';
import { lastReceivedAt } from '../db/detection-queries.js';
import { countRejections } from '../db/rejections.js';
import { withTimeout } from '../lib/timeout.js';
import type { Queues } from '../queues/queues.js';
import type { RetryingJobs } from '../queues/retrying.js';

/**
 * As /healthz: a dependency that does not answer in time is down. (With Redis gone, a command
 * waits for the client's next reconnect attempt, up to 5 s later.)
 */
export const DEPENDENCY_TIMEOUT_MS = 2_000;

export interface PipelineHealth {
  status: 'ok' | 'degraded' | 'down';
  queueWaiting: number;
  queueActive: number;
  queueFailed: number;
  queueRetrying: number;
  rejectedTotal: number;
  lastEventAt: Date | null;
  subscribers: number;
  /** Why the status is not ok; not in the contract's schema, exposed as an added field. */
  reasons: string[];
}

export interface PipelineHealthDeps {
  db: DrizzleDb;
  queues: Queues;
  subscribers: () => number;
  retrying: RetryingJobs;
  /** A job retrying for longer than this makes the status `degraded`. */
  retryAlertMs: number;
}

/**
 * `down` when Redis or the database does not answer, `degraded` when jobs have failed for
 * good or wait with no worker to take them, else `ok`.
 */
export async function readPipelineHealth({
  db,
  queues,
  subscribers,
  retrying,
  retryAlertMs,
}: PipelineHealthDeps): Promise<PipelineHealth> {
  const reasons: string[] = [];
  const [counts, dbFacts, retries] = await Promise.all([
    withTimeout(
      Promise.all([
        queues.detections.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'failed'),
        queues.control.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'failed'),
        queues.rejects.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'failed'),
      ]),
      DEPENDENCY_TIMEOUT_MS,
    ).catch((err: Error) => {
      reasons.push(`Redis: ${err.message}`);
      return null;
    }),
    withTimeout(Promise.all([countRejections(db), lastReceivedAt(db)]), DEPENDENCY_TIMEOUT_MS).catch((err: Error) => {
      reasons.push(`database: ${err.message}`);
      return null;
    }),
    withTimeout(retrying.read(), DEPENDENCY_TIMEOUT_MS).catch(() => null),
  ]);
  const sum = (k: string) => (counts ? counts.reduce((n, c) => n + (c[k] ?? 0), 0) : 0);
  const queueWaiting = sum('waiting') + sum('delayed') + sum('prioritized');
  const queueActive = sum('active');
  const queueFailed = sum('failed');
  let status: PipelineHealth['status'] = counts && dbFacts ? 'ok' : 'down';
  if (status === 'ok') {
    if (queueFailed > 0) reasons.push(`${queueFailed} jobs failed`);
    if (queueWaiting > 0 && queueActive === 0) {
      const workers = await queues.detections.getWorkersCount().catch(() => 0);
      if (workers === 0) reasons.push(`${queueWaiting} jobs waiting and no worker connected`);
    }
    const oldest = retries?.oldest;
    if (oldest && Date.now() - oldest.since > retryAlertMs) {
      const job = await (oldest.queue === 'control' ? queues.control : queues.detections)
        .getJob(oldest.jobId)
        .catch(() => undefined);
      const seconds = Math.round((Date.now() - oldest.since) / 1000);
      const cause = job?.failedReason ? `: ${job.failedReason}` : '';
      reasons.push(`${retries.count} job(s) retrying; job ${oldest.jobId} (${oldest.queue}) for ${seconds} s${cause}`);
    }
    if (reasons.length > 0) status = 'degraded';
  }
  return {
    status,
    queueWaiting,
    queueActive,
    queueFailed,
    queueRetrying: retries?.count ?? 0,
    rejectedTotal: dbFacts?.[0] ?? 0,
    lastEventAt: dbFacts?.[1] ?? null,
    subscribers: subscribers(),
    reasons,
  };
}
