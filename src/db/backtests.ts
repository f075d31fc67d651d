import { eq, sql } from 'drizzle-orm';
import { backtestJobs } from '../schema/db.js';
import type { BacktestProgressEvent, BacktestResultEvent } from '../schema/events.js';
import type { Db } from './client.js';

export type BacktestJobRow = typeof backtestJobs.$inferSelect;

/** Keeps the newest progress per job: an older report arriving late never overwrites a newer one. */
export async function storeBacktestProgress(db: Db, e: BacktestProgressEvent): Promise<void> {
  const progress = {
    progress: e.progress,
    progressStatus: e.status,
    currentSymbol: e.currentSymbol,
    processedSymbols: e.processedSymbols,
    estimatedCompletion: e.estimatedCompletion ? new Date(e.estimatedCompletion) : null,
    progressAt: new Date(e.at),
  };
  await db
    .insert(backtestJobs)
    .values({ jobId: e.jobId, ...progress })
    .onConflictDoUpdate({
      target: backtestJobs.jobId,
      set: { ...progress, updatedAt: sql`now()` },
      setWhere: sql`${backtestJobs.progressAt} is null or ${backtestJobs.progressAt} <= excluded.progress_at`,
    });
}

export async function storeBacktestResult(db: Db, e: BacktestResultEvent): Promise<void> {
  const result = {
    resultStatus: e.status,
    results: e.results,
    processingTimeSeconds: e.processingTimeSeconds,
    resultAt: new Date(e.at),
  };
  await db
    .insert(backtestJobs)
    .values({ jobId: e.jobId, ...result })
    .onConflictDoUpdate({
      target: backtestJobs.jobId,
      set: { ...result, updatedAt: sql`now()` },
      setWhere: sql`${backtestJobs.resultAt} is null or ${backtestJobs.resultAt} <= excluded.result_at`,
    });
}

export async function findBacktestJob(db: Db, jobId: string): Promise<BacktestJobRow | null> {
  const [row] = await db.select().from(backtestJobs).where(eq(backtestJobs.jobId, jobId));
  return row ?? null;
}
