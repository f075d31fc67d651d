import { eq, sql } from 'drizzle-orm';
import { backtestJobs } from '../schema/db.js';
import type { BacktestProgressEvent, BacktestResultEvent } from '../schema/events.js';
import type { BacktestProgress, BacktestResult } from '../schema/topics.js';
import type { DrizzleDb } from './client.js';

type BacktestJobRow = typeof backtestJobs.$inferSelect;

export interface BacktestJob {
  jobId: string;
  progress: BacktestProgress | null;
  result: BacktestResult | null;
}

/**
 * Keeps the newest progress per job: an older report arriving late never overwrites a newer one.
 * Returns the progress as stored, to publish; null when the report was older than the stored one
 * (so subscribers never see a job's progress go backwards).
 */
export async function storeBacktestProgress(db: DrizzleDb, e: BacktestProgressEvent): Promise<BacktestProgress | null> {
  const progress = {
    progress: e.progress,
    progressStatus: e.status,
    currentSymbol: e.currentSymbol,
    processedSymbols: e.processedSymbols,
    estimatedCompletion: e.estimatedCompletion ? new Date(e.estimatedCompletion) : null,
    progressAt: new Date(e.at),
  };
  const [row] = await db
    .insert(backtestJobs)
    .values({ jobId: e.jobId, ...progress })
    .onConflictDoUpdate({
      target: backtestJobs.jobId,
      set: { ...progress, updatedAt: sql`now()` },
      setWhere: sql`${backtestJobs.progressAt} is null or ${backtestJobs.progressAt} <= excluded.progress_at`,
    })
    .returning();
  return row ? progressOf(row) : null;
}

/** As `storeBacktestProgress`, for the final result. */
export async function storeBacktestResult(db: DrizzleDb, e: BacktestResultEvent): Promise<BacktestResult | null> {
  const result = {
    resultStatus: e.status,
    results: e.results,
    processingTimeSeconds: e.processingTimeSeconds,
    resultAt: new Date(e.at),
  };
  const [row] = await db
    .insert(backtestJobs)
    .values({ jobId: e.jobId, ...result })
    .onConflictDoUpdate({
      target: backtestJobs.jobId,
      set: { ...result, updatedAt: sql`now()` },
      setWhere: sql`${backtestJobs.resultAt} is null or ${backtestJobs.resultAt} <= excluded.result_at`,
    })
    .returning();
  return row ? resultOf(row) : null;
}

export async function findBacktestJob(db: DrizzleDb, jobId: string): Promise<BacktestJob | null> {
  const [row] = await db.select().from(backtestJobs).where(eq(backtestJobs.jobId, jobId));
  return row ? { jobId: row.jobId, progress: progressOf(row), result: resultOf(row) } : null;
}

// The one mapping from a stored job to what clients see (queried or published).

function progressOf(j: BacktestJobRow): BacktestProgress | null {
  if (j.progress == null) return null;
  return {
    jobId: j.jobId,
    progress: j.progress,
    status: j.progressStatus ?? 'running',
    currentSymbol: j.currentSymbol,
    processedSymbols: j.processedSymbols,
    estimatedCompletion: j.estimatedCompletion,
    at: j.progressAt ?? j.updatedAt,
  };
}

function resultOf(j: BacktestJobRow): BacktestResult | null {
  if (j.resultStatus == null) return null;
  return {
    jobId: j.jobId,
    status: j.resultStatus,
    results: j.results,
    processingTimeSeconds: j.processingTimeSeconds,
    at: j.resultAt ?? j.updatedAt,
  };
}
