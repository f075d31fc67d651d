import { desc, eq, sql } from 'drizzle-orm';
import { rejectedEvents, rejectedTotal } from '../schema/db.js';
import type { RejectedMessage } from '../schema/events.js';
import type { DrizzleDb } from './client.js';

export type RejectedRow = typeof rejectedEvents.$inferSelect;

/**
 * Stores rejects in one statement and round trip: a multi-row insert that skips an `event_id`
 * already stored (two ingest replicas rejecting the same bytes store one row, a retried job
 * stores nothing twice), and the running total bumped by the rows it actually inserted.
 * Returns how many it inserted.
 */
export async function storeRejections(db: DrizzleDb, rejects: readonly RejectedMessage[]): Promise<number> {
  if (rejects.length === 0) return 0;
  const rows = rejects.map((r) => ({
    event_id: r.eventId,
    channel: r.channel,
    reason: r.reason,
    payload: r.payloadBase64,
    byte_length: r.byteLength,
    received_at: r.receivedAt,
  }));
  const result = await db.execute(sql`
    WITH inserted AS (
      INSERT INTO ${rejectedEvents} (event_id, channel, reason, payload, byte_length, received_at)
      SELECT event_id, channel, reason, decode(payload, 'base64'), byte_length, received_at
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(event_id text, channel text, reason text,
        payload text, byte_length integer, received_at timestamptz)
      ON CONFLICT (event_id) DO NOTHING
      RETURNING 1
    ), n AS (SELECT count(*) AS n FROM inserted),
    bumped AS (
      INSERT INTO ${rejectedTotal} (id, total) SELECT 1, n FROM n WHERE n > 0
      ON CONFLICT (id) DO UPDATE SET total = ${rejectedTotal}.total + excluded.total
    )
    SELECT n AS inserted FROM n`);
  return Number((result as { rows: { inserted: number | string }[] }).rows[0]?.inserted ?? 0);
}

/** Idempotent: two ingest replicas rejecting the same bytes store one row. */
export async function storeRejection(db: DrizzleDb, r: RejectedMessage): Promise<void> {
  await storeRejections(db, [r]);
}

export interface RejectRetention {
  /** Rows received before this are deleted. */
  olderThan: Date;
  /** At most this many rows are kept; the oldest (lowest id, first stored) go first. */
  maxRows: number;
}

/**
 * Deletes what retention no longer keeps; the running total is untouched. Two statements, each
 * walking one index from its old end: by age, `received_at` below the cutoff; by count, the id
 * of the `maxRows`-th newest row, found by reading `maxRows` entries of the primary key
 * backwards (an index-only scan), and everything at or below the id just before it.
 * Returns how many rows went.
 */
export async function pruneRejections(db: DrizzleDb, { olderThan, maxRows }: RejectRetention): Promise<number> {
  const byAge = await db.execute(sql`DELETE FROM ${rejectedEvents} WHERE received_at < ${olderThan.toISOString()}::timestamptz`);
  const byCount = await db.execute(sql`
    DELETE FROM ${rejectedEvents}
    WHERE id <= (SELECT id FROM ${rejectedEvents} ORDER BY id DESC OFFSET ${maxRows} LIMIT 1)`);
  // node-postgres says `rowCount`, PGlite `affectedRows`.
  const deleted = (r: unknown) => {
    const { rowCount, affectedRows } = r as { rowCount?: number | null; affectedRows?: number };
    return rowCount ?? affectedRows ?? 0;
  };
  return deleted(byAge) + deleted(byCount);
}

export async function listRejections(db: DrizzleDb, first: number): Promise<RejectedRow[]> {
  return db.select().from(rejectedEvents).orderBy(desc(rejectedEvents.id)).limit(first);
}

/** Every message ever rejected, including rows retention has since deleted. */
export async function countRejections(db: DrizzleDb): Promise<number> {
  const [row] = await db.select({ total: rejectedTotal.total }).from(rejectedTotal).where(eq(rejectedTotal.id, 1));
  return row?.total ?? 0;
}
