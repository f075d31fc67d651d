import { desc } from 'drizzle-orm';
import { publisherHealth } from '../schema/db.js';
import type { HealthEvent } from '../schema/events.js';
import type { PublisherHealth } from '../schema/topics.js';
import type { DrizzleDb } from './client.js';

/**
 * Stores a report (once per event id: a retried job stores nothing new) and returns it as
 * clients see it, to publish.
 */
export async function storePublisherHealth(db: DrizzleDb, e: HealthEvent): Promise<PublisherHealth> {
  const report = { status: e.status, source: e.source, metrics: e.metrics, at: new Date(e.at) };
  await db
    .insert(publisherHealth)
    .values({ eventId: e.eventId, ...report, receivedAt: new Date(e.receivedAt) })
    .onConflictDoNothing({ target: publisherHealth.eventId });
  return report;
}

/** The newest report by its own timestamp, which is what a dashboard means by "current". */
export async function latestPublisherHealth(db: DrizzleDb): Promise<PublisherHealth | null> {
  const [row] = await db
    .select({
      status: publisherHealth.status,
      source: publisherHealth.source,
      metrics: publisherHealth.metrics,
      at: publisherHealth.at,
    })
    .from(publisherHealth)
    .orderBy(desc(publisherHealth.at), desc(publisherHealth.id))
    .limit(1);
  return row ?? null;
}
