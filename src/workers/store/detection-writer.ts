import type { Database, DrizzleDb } from '../../db/client.js';
import {
  advancePublicationCursor,
  advancePublicationCursorSql,
  findUnpublished,
  storeForPublication,
  type DetectionToStore,
  type Publication,
} from '../../db/detection-store.js';
import { databaseMessage, isDataError } from '../../db/errors.js';
import { withTimeout } from '../../lib/timeout.js';
import { detectionsStored } from '../../metrics/metrics.js';
import type { DeliveryOutbox } from '../../notifications/outbox.js';
import type { AlertPubSub } from '../../pubsub/pubsub.js';

/**
 * What became of one detection: stored now, or already stored (`duplicate`: its `event_id` was
 * in the table, e.g. heard twice, or stored by an attempt of its job that then failed), or
 * refused by the database as data.
 */
export type WriteOutcome = { stored: true; duplicate: boolean } | { stored: false; refused: string };

export interface DetectionWriter {
  /**
   * Resolves once the detection is stored and everything stored up to it is published, or once
   * the database has refused it as data (the rest of its batch is stored regardless). Rejects on
   * a fault (connection, timeout, …): the caller's job is retried.
   */
  write(detection: DetectionToStore): Promise<WriteOutcome>;
}

export interface DetectionWriterOptions {
  database: Database;
  pubsub: AlertPubSub;
  /** Most detections in one transaction. */
  maxBatch?: number;
  /** A publish that has not finished in this time fails the batch (which retries). */
  publishTimeoutMs?: number;
  /**
   * Notifications (contract §7): told each published page before the cursor moves past it, so
   * the deliveries it makes are recorded exactly once (see notifications/outbox.ts).
   */
  outbox?: DeliveryOutbox;
}

interface Pending extends DetectionToStore {
  resolve(outcome: WriteOutcome): void;
  reject(err: unknown): void;
}

const STORED: WriteOutcome = { stored: true, duplicate: false };
const DUPLICATE: WriteOutcome = { stored: true, duplicate: true };

/**
 * Group commit for detections. Concurrent jobs hand their detection here; whatever has
 * gathered while the previous batch was being written goes in the next one. Under the write
 * lock every worker process shares: one transaction stores the batch, then every row above
 * the publication cursor is published in id order and the cursor moves past it.
 *
 * So ids become visible, and reach subscribers, in increasing order with no gap — which is
 * what lets a subscriber resume exactly with `after: <last id seen>`. A writer that dies
 * after committing leaves rows above the cursor; the next batch (by anyone, including the
 * retry of the dead job) publishes them first. One that dies after publishing but before
 * moving the cursor makes the next batch publish them again; API servers drop the repeats.
 *
 * A batch is one statement, so one row PostgreSQL refuses (a data error: NUL in a string, a
 * constraint) fails all of it. The batch is then split in halves, and each half stored on its
 * own, down to the single rows that fail: those are refused, every other row is stored.
 *
 * With an outbox, each published page's notification deliveries are recorded before the
 * cursor moves past it, so a crash anywhere neither loses one nor makes one twice.
 */
export function createDetectionWriter({
  database,
  pubsub,
  maxBatch = 500,
  publishTimeoutMs = 5_000,
  outbox,
}: DetectionWriterOptions): DetectionWriter {
  const queue: Pending[] = [];
  let running: Promise<void> | null = null;

  /** The batch's outcome so far: the reason for each refused item, the `event_id`s inserted. */
  interface Written {
    refused: Map<Pending, string>;
    inserted: string[];
  }

  /** Inserts `items` (one statement, which commits on its own) and counts what it inserted. */
  async function store(db: DrizzleDb, items: readonly Pending[], written: Written): Promise<Publication> {
    const stored = await storeForPublication(db, items);
    written.inserted.push(...stored.inserted);
    if (stored.inserted.length > 0) detectionsStored.inc(stored.inserted.length);
    return stored;
  }

  /** Stores `items` in halves until only refused rows fail; notes the reason for each refused one. */
  async function storeApart(db: DrizzleDb, items: readonly Pending[], written: Written): Promise<void> {
    try {
      await store(db, items, written);
    } catch (err) {
      if (!isDataError(err)) throw err;
      if (items.length === 1) {
        written.refused.set(items[0]!, databaseMessage(err));
        return;
      }
      const half = Math.ceil(items.length / 2);
      await storeApart(db, items.slice(0, half), written);
      await storeApart(db, items.slice(half), written);
    }
  }

  async function writeBatch(batch: Pending[]): Promise<Written> {
    const written: Written = { refused: new Map(), inserted: [] };
    await database.withWriteLock(
      async (db) => {
        let page: Publication;
        try {
          page = await store(db, batch, written);
        } catch (err) {
          if (!isDataError(err)) throw err;
          // Whatever the halves stored sits above the cursor, to be published like any batch.
          await storeApart(db, batch, written);
          page = await findUnpublished(db);
        }
        for (;;) {
          const last = page.rows.at(-1);
          if (last) {
            // One connection sends these in order; waiting for all keeps the lock until they are out.
            await withTimeout(
              Promise.all(page.rows.map((row) => pubsub.publish('patternAlert', row))),
              publishTimeoutMs,
              `publishing detections took longer than ${publishTimeoutMs} ms`,
            );
            // After subscribers have it, before the cursor moves: a crash in between re-does both.
            if (outbox) await outbox.record(db, page.rows, page.rulesVersion);
          }
          // Pages, so a large backlog left by a crash is published in bounded pieces.
          if (!page.more) return last?.id ?? null;
          await advancePublicationCursor(db, last!.id);
          page = await findUnpublished(db);
        }
      },
      // The last page's cursor moves as the lock is released, in the same round trip.
      { releaseWith: (lastId) => (lastId === null ? null : advancePublicationCursorSql(lastId)) },
    );
    return written;
  }

  async function run(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        const { refused, inserted } = await writeBatch(batch);
        // Each inserted event_id is claimed by the first of the batch's items that carries it: a
        // message heard twice within one batch is one row and one duplicate.
        const fresh = new Map<string, number>();
        for (const id of inserted) fresh.set(id, (fresh.get(id) ?? 0) + 1);
        for (const p of batch) {
          const reason = refused.get(p);
          if (reason !== undefined) {
            p.resolve({ stored: false, refused: reason });
            continue;
          }
          const left = fresh.get(p.event.eventId) ?? 0;
          if (left > 0) fresh.set(p.event.eventId, left - 1);
          p.resolve(left > 0 ? STORED : DUPLICATE);
        }
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    running = null;
  }

  return {
    write(detection) {
      return new Promise<WriteOutcome>((resolve, reject) => {
        queue.push({ ...detection, resolve, reject });
        running ??= run();
      });
    },
  };
}
