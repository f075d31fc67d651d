import type { Database } from '../../db/client.js';
import { advancePublicationCursor, advancePublicationCursorSql, findUnpublished, storeForPublication, type DetectionToStore, type Publication } from '../../db/detection-store.js';
import type { AlertPubSub } from '../../pubsub/pubsub.js';
import { withTimeout } from '../../lib/timeout.js';

export interface DetectionWriter {
  /** Resolves once the detection is stored and everything stored up to it is published. */
  write(detection: DetectionToStore): Promise<void>;
}

export interface DetectionWriterOptions {
  database: Database;
  pubsub: AlertPubSub;
  /** Most detections in one transaction. */
  maxBatch?: number;
  /** A publish that has not finished in this time fails the batch (which retries). */
  publishTimeoutMs?: number;
}

interface Pending extends DetectionToStore {
  resolve(): void;
  reject(err: unknown): void;
}

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
 */
export function createDetectionWriter({ database, pubsub, maxBatch = 500, publishTimeoutMs = 5_000 }: DetectionWriterOptions): DetectionWriter {
  const queue: Pending[] = [];
  let running: Promise<void> | null = null;

  async function writeBatch(batch: Pending[]): Promise<void> {
    await database.withWriteLock(
      async (db) => {
        let page: Publication = await storeForPublication(db, batch);
        for (;;) {
          const last = page.rows.at(-1);
          if (last) {
            // One connection sends these in order; waiting for all keeps the lock until they are out.
            await withTimeout(
              Promise.all(page.rows.map((row) => pubsub.publish('patternAlert', row))),
              publishTimeoutMs,
              `publishing detections took longer than ${publishTimeoutMs} ms`,
            );
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
  }

  async function run(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        await writeBatch(batch);
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    running = null;
  }

  return {
    write(detection) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ ...detection, resolve, reject });
        running ??= run();
      });
    },
  };
}
