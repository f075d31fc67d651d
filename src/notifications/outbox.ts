/**
 * The transactional outbox of notifications, on the detection writer's side. Under the write
 * lock, after a page of detections is published and before the publication cursor moves past
 * it, the deliveries those detections make are inserted — idempotently, one per (rule,
 * detection) — and handed to the `notifications` queue without waiting for it. So:
 *
 * - a writer killed before the insert leaves its rows above the cursor: the next batch
 *   publishes them again and makes their deliveries then;
 * - one killed after the insert and before the cursor moved: the next batch's insert finds
 *   them made and makes none twice;
 * - one killed before its jobs were added: the relay's sweep (workers/notify) adds them, under
 *   the same job id (`delivery-<id>`), so nothing is added twice either.
 *
 * The detection pipeline never waits on a receiver: sending is the queue's business. Its cost
 * on the hot path: with no rule at all, a version compare; with rules, matching in memory and,
 * only when something matched, one INSERT statement per page.
 */
import type { DrizzleDb } from '../db/client.js';
import { isDataError, databaseMessage } from '../db/errors.js';
import { insertAlertDeliveries, loadActiveRules, readRulesVersion, type CreatedDelivery } from '../db/notifications.js';
import { compileRules, type MatchableDetection, type RuleMatcher } from '../domain/notifications.js';
import type { Logger } from '../lib/logger.js';
import type { DeliveryOutcomeListener } from './outcomes.js';

export interface DeliveryOutbox {
  /**
   * Makes the deliveries of `rows` (published, the cursor not yet past them). Call under the
   * write lock. `rulesVersion` is what the store statement read (read here when undefined).
   * Throws on a fault, so the batch is retried; a data error (a bug, not a fault) is logged and
   * swallowed rather than stopping the detection pipeline.
   */
  record(db: DrizzleDb, rows: readonly MatchableDetection[], rulesVersion: number | undefined): Promise<void>;
}

export interface DeliveryOutboxOptions {
  /** Adds the jobs of new deliveries; not awaited by the writer. */
  enqueue: (deliveries: readonly CreatedDelivery[]) => Promise<void>;
  capWindowMs: number;
  logger: Logger;
  onOutcome?: DeliveryOutcomeListener;
}

export function createDeliveryOutbox(o: DeliveryOutboxOptions): DeliveryOutbox {
  let cached: { version: number; matcher: RuleMatcher } | null = null;

  return {
    async record(db, rows, rulesVersion) {
      if (rows.length === 0) return;
      const version = rulesVersion ?? (await readRulesVersion(db));
      if (cached?.version !== version) {
        const active = await loadActiveRules(db);
        cached = { version: active.version, matcher: compileRules(active.rules) };
      }
      if (cached.matcher.size === 0) return;
      const pairs = cached.matcher.match(rows);
      if (pairs.length === 0) return;
      let created: CreatedDelivery[];
      try {
        created = await insertAlertDeliveries(db, pairs, o.capWindowMs);
      } catch (err) {
        if (!isDataError(err)) throw err;
        o.logger.error(`[notify] ${pairs.length} deliveries could not be recorded: ${databaseMessage(err)}`);
        return;
      }
      for (const d of created) if (d.status === 'SUPPRESSED') o.onOutcome?.(d.channel, 'SUPPRESSED');
      const toQueue = created.filter((d) => d.status === 'PENDING');
      if (toQueue.length > 0) {
        // Not awaited: a slow Redis must not hold the write lock. Lost adds are the sweep's.
        void o
          .enqueue(toQueue)
          .catch((err: Error) => o.logger.warn(`[notify] queueing deliveries failed (the sweep retries): ${err.message}`));
      }
    },
  };
}
