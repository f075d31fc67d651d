import { desc } from 'drizzle-orm';
import { publisherHealth } from '../schema/db.js';
import type { HealthEvent } from '../schema/events.js';
import type { Db } from './client.js';

export type PublisherHealthRow = typeof publisherHealth.$inferSelect;

export async function storePublisherHealth(db: Db, e: HealthEvent): Promise<void> {
  await db
    .insert(publisherHealth)
    .values({
      eventId: e.eventId,
      status: e.status,
      source: e.source,
      metrics: e.metrics,
      at: new Date(e.at),
      receivedAt: new Date(e.receivedAt),
    })
    .onConflictDoNothing({ target: publisherHealth.eventId });
}

/** The newest report by its own timestamp, which is what a dashboard means by "current". */
export async function latestPublisherHealth(db: Db): Promise<PublisherHealthRow | null> {
  const [row] = await db.select().from(publisherHealth).orderBy(desc(publisherHealth.at), desc(publisherHealth.id)).limit(1);
  return row ?? null;
}
