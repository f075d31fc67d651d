import { UnrecoverableError, type Job } from 'bullmq';
import type { DrizzleDb } from '../../db/client.js';
import { pruneRejections, storeRejections } from '../../db/rejections.js';
import type { Logger } from '../../lib/logger.js';
import { rejectJobSchemas } from '../../schema/jobs.js';

export interface RejectWriterOptions {
  db: DrizzleDb;
  logger: Logger;
  /** Rejects received longer ago than this are deleted. */
  retentionDays: number;
  /** At most this many rejects are kept; the oldest go first. */
  maxRows: number;
  /** Retention runs at most once per this interval, and at least once per `idlePruneMs`. */
  minPruneIntervalMs?: number;
  idlePruneMs?: number;
}

export interface RejectWriter {
  /** The processor of the `rejects` queue: one multi-row idempotent insert per job. */
  process(job: Job): Promise<void>;
  /** Applies retention now. */
  prune(): Promise<number>;
  /** Stops the timers and waits for a prune in flight. */
  close(): Promise<void>;
}

/**
 * Stores batches of rejects and keeps `rejected_events` within its retention (contract §1).
 * Retention runs after inserts, at most once per `minPruneIntervalMs` (a prune due inside the
 * window runs at its end), and on a timer every `idlePruneMs`, so age applies with no traffic
 * too. So the table holds at most `maxRows` plus what one interval brings. Every worker process
 * prunes; two deleting the same rows at once are harmless (the second finds them gone).
 */
export function createRejectWriter({
  db,
  logger,
  retentionDays,
  maxRows,
  minPruneIntervalMs = 1_000,
  idlePruneMs = 60_000,
}: RejectWriterOptions): RejectWriter {
  let lastPrune = 0;
  let pruning: Promise<number> | null = null;
  let scheduled: NodeJS.Timeout | null = null;
  let closed = false;

  function prune(): Promise<number> {
    pruning ??= (async () => {
      lastPrune = Date.now();
      try {
        const olderThan = new Date(Date.now() - retentionDays * 86_400_000);
        return await pruneRejections(db, { olderThan, maxRows });
      } catch (err) {
        // Retention is housekeeping: the next insert or tick tries again.
        logger.warn(`[rejects] pruning failed: ${(err as Error).message}`);
        return 0;
      } finally {
        pruning = null;
      }
    })();
    return pruning;
  }

  function schedulePrune(): void {
    if (scheduled || closed) return;
    const wait = Math.max(0, lastPrune + minPruneIntervalMs - Date.now());
    scheduled = setTimeout(() => {
      scheduled = null;
      void prune();
    }, wait);
    scheduled.unref();
  }

  const idle = setInterval(() => void prune(), idlePruneMs);
  idle.unref();
  schedulePrune();

  return {
    async process(job) {
      const schema = Object.hasOwn(rejectJobSchemas, job.name)
        ? rejectJobSchemas[job.name as keyof typeof rejectJobSchemas]
        : undefined;
      if (!schema) throw new UnrecoverableError(`unknown job name "${job.name}"`);
      const parsed = schema.safeParse(job.data);
      if (!parsed.success) {
        throw new UnrecoverableError(`job ${job.id} (${job.name}) has invalid data: ${parsed.error.issues[0]?.message}`);
      }
      await storeRejections(db, parsed.data.rejects);
      schedulePrune();
    },
    prune,
    async close() {
      closed = true;
      clearInterval(idle);
      if (scheduled) clearTimeout(scheduled);
      scheduled = null;
      await pruning;
    },
  };
}
