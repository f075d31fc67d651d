import { count, desc } from 'drizzle-orm';
import { rejectedEvents } from '../schema/db.js';
import type { RejectedMessage } from '../schema/events.js';
import type { DrizzleDb } from './client.js';

export type RejectedRow = typeof rejectedEvents.$inferSelect;

/** Idempotent: two ingest replicas rejecting the same bytes store one row. */
export async function storeRejection(db: DrizzleDb, r: RejectedMessage): Promise<void> {
  await db
    .insert(rejectedEvents)
    .values({
      eventId: r.eventId,
      channel: r.channel,
      reason: r.reason,
      payload: Buffer.from(r.payloadBase64, 'base64'),
      byteLength: r.byteLength,
      receivedAt: new Date(r.receivedAt),
    })
    .onConflictDoNothing({ target: rejectedEvents.eventId });
}

export async function listRejections(db: DrizzleDb, first: number): Promise<RejectedRow[]> {
  return db.select().from(rejectedEvents).orderBy(desc(rejectedEvents.id)).limit(first);
}

export async function countRejections(db: DrizzleDb): Promise<number> {
  const [row] = await db.select({ n: count() }).from(rejectedEvents);
  return row?.n ?? 0;
}
