import type { Database } from '../db/client.js';
import { storeDetections, type DetectionToStore } from '../db/detections.js';
import { toWire, type AlertPubSub } from '../pubsub/topics.js';
import { withTimeout } from '../runtime/timeout.js';

export interface WriteRequest extends DetectionToStore {
  /**
   * Publish even if the row was already stored: set for a job that ran before and may have
   * stored its row but died before publishing. API servers drop an id they already delivered.
   */
  republish: boolean;
}

export interface DetectionWriter {
  /** Resolves once the detection is stored and, if new (or `republish`), published. */
  write(request: WriteRequest): Promise<void>;
}

export interface DetectionWriterOptions {
  database: Database;
  pubsub: AlertPubSub;
  /** Most detections in one transaction. */
  maxBatch?: number;
  /** A publish that has not finished in this time fails the batch (which retries). */
  publishTimeoutMs?: number;
}

interface Pending extends WriteRequest {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Group commit for detections. Concurrent jobs hand their detection here; whatever has
 * gathered while the previous batch was being written goes in the next one: one transaction,
 * then the publishes in id order, all under the shared write lock. So, across every worker
 * process, ids become visible in increasing order and are published in that order — which is
 * what lets a subscriber resume exactly with `after: <last id seen>`.
 */
export function createDetectionWriter({ database, pubsub, maxBatch = 200, publishTimeoutMs = 5_000 }: DetectionWriterOptions): DetectionWriter {
  const queue: Pending[] = [];
  let running: Promise<void> | null = null;

  async function writeBatch(batch: Pending[]): Promise<void> {
    await database.withWriteLock(async (db) => {
      const results = await storeDetections(db, batch);
      // Keyed by id: an event repeated within the batch is published once.
      const toPublish = new Map(results.filter((r, i) => r.inserted || batch[i]!.republish).map((r) => [r.row.id, r.row]));
      const inIdOrder = [...toPublish.values()].sort((a, b) => a.id - b.id);
      // One connection sends these in order; waiting for all of them keeps the lock until they are out.
      await withTimeout(
        Promise.all(inIdOrder.map((row) => pubsub.publish('patternAlert', toWire(row)))),
        publishTimeoutMs,
        `publishing detections took longer than ${publishTimeoutMs} ms`,
      );
    });
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
    write(request) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ ...request, resolve, reject });
        running ??= run();
      });
    },
  };
}
