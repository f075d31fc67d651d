import { and, asc, desc, eq, gt, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { patternDefinitions, patternDetections } from '../schema/db.js';
import type { Classification, PatternEvent, Tier } from '../schema/events.js';
import { normalizePatternName, normalizeSymbol, prioritiesAtLeast, type PatternFilter } from '../schema/pattern-filter.js';
import type { Db } from './client.js';

export type DetectionRow = typeof patternDetections.$inferSelect;

export interface StoreResult {
  row: DetectionRow;
  /** False when the event id was already stored (a duplicate message or a retried job). */
  inserted: boolean;
}

/**
 * Stores one detection and counts it on its pattern definition, in one transaction.
 * Idempotent on the event id: a second call returns the stored row with `inserted: false`
 * and changes nothing.
 */
export async function storeDetection(db: Db, event: PatternEvent, c: Classification): Promise<StoreResult> {
  return db.transaction(async (tx) => {
    const metadata = c.unrecognisedTier ? { ...event.metadata, unrecognised_tier: c.unrecognisedTier } : event.metadata;
    const detectedAt = new Date(event.detectedAt);
    const [inserted] = await tx
      .insert(patternDetections)
      .values({
        eventId: event.eventId,
        symbol: event.symbol,
        pattern: event.pattern,
        confidence: event.confidence,
        tier: c.tier,
        priority: c.priority,
        timeframe: event.timeframe,
        category: event.category,
        price: event.price,
        detectedAt,
        receivedAt: new Date(event.receivedAt),
        expiresAt: event.expiresAt ? new Date(event.expiresAt) : null,
        source: event.source,
        metadata,
      })
      .onConflictDoNothing({ target: patternDetections.eventId })
      .returning();
    if (!inserted) {
      const [existing] = await tx.select().from(patternDetections).where(eq(patternDetections.eventId, event.eventId));
      if (!existing) throw new Error(`detection ${event.eventId} conflicted but is not readable`);
      return { row: existing, inserted: false };
    }
    const timeframes = event.timeframe ? [event.timeframe] : [];
    await tx
      .insert(patternDefinitions)
      .values({
        name: event.pattern,
        category: event.category,
        timeframes,
        detections: 1,
        firstSeenAt: detectedAt,
        lastSeenAt: detectedAt,
      })
      .onConflictDoUpdate({
        target: patternDefinitions.name,
        set: {
          detections: sql`${patternDefinitions.detections} + 1`,
          category: sql`coalesce(${patternDefinitions.category}, excluded.category)`,
          timeframes: sql`case when cardinality(excluded.timeframes) = 0 or excluded.timeframes[1] = any(${patternDefinitions.timeframes})
            then ${patternDefinitions.timeframes} else ${patternDefinitions.timeframes} || excluded.timeframes end`,
          firstSeenAt: sql`least(${patternDefinitions.firstSeenAt}, excluded.first_seen_at)`,
          lastSeenAt: sql`greatest(${patternDefinitions.lastSeenAt}, excluded.last_seen_at)`,
        },
      });
    return { row: inserted, inserted: true };
  });
}

/** SQL for a filter; the same rules as `compileFilter` in memory (keep the two in step). */
export function filterConditions(f: PatternFilter | null | undefined): SQL[] {
  if (!f) return [];
  const out: SQL[] = [];
  if (f.symbols?.length) out.push(inArray(patternDetections.symbol, f.symbols.map(normalizeSymbol)));
  if (f.patterns?.length) {
    out.push(inArray(sql`lower(${patternDetections.pattern})`, f.patterns.map(normalizePatternName)));
  }
  if (f.tiers?.length) out.push(inArray(patternDetections.tier, [...f.tiers]));
  if (f.minConfidence != null) out.push(gte(patternDetections.confidence, f.minConfidence));
  if (f.minPriority) {
    out.push(inArray(patternDetections.priority, prioritiesAtLeast(f.minPriority)));
  }
  if (f.since) out.push(gte(patternDetections.detectedAt, f.since));
  if (f.until) out.push(lt(patternDetections.detectedAt, f.until));
  return out;
}

export interface PageRequest {
  filter?: PatternFilter | null;
  first: number;
  /** Only ids below this one (newest-first paging). */
  before?: number | null;
}

/** Newest first by id; fetches one extra row to answer `hasNextPage` without a count. */
export async function findDetectionsPage(db: Db, req: PageRequest): Promise<{ rows: DetectionRow[]; hasNextPage: boolean }> {
  const where = filterConditions(req.filter);
  if (req.before != null) where.push(lt(patternDetections.id, req.before));
  const rows = await db
    .select()
    .from(patternDetections)
    .where(and(...where))
    .orderBy(desc(patternDetections.id))
    .limit(req.first + 1);
  const hasNextPage = rows.length > req.first;
  return { rows: hasNextPage ? rows.slice(0, req.first) : rows, hasNextPage };
}

/** Oldest first, ids above `after`: one page of a subscription's replay. */
export async function findDetectionsAfter(
  db: Db,
  filter: PatternFilter | null | undefined,
  after: number,
  limit: number,
): Promise<DetectionRow[]> {
  return db
    .select()
    .from(patternDetections)
    .where(and(gt(patternDetections.id, after), ...filterConditions(filter)))
    .orderBy(asc(patternDetections.id))
    .limit(limit);
}

export async function findDetectionById(db: Db, id: number): Promise<DetectionRow | null> {
  const [row] = await db.select().from(patternDetections).where(eq(patternDetections.id, id));
  return row ?? null;
}

export interface RecentRequest {
  tier: Tier;
  since: Date;
  symbols: readonly string[] | null;
  minConfidence: number;
  limit: number;
}

/** The REST compatibility order: confidence descending, then newest first. */
export async function findRecentByConfidence(db: Db, req: RecentRequest): Promise<DetectionRow[]> {
  const where: SQL[] = [
    eq(patternDetections.tier, req.tier),
    gte(patternDetections.detectedAt, req.since),
    gte(patternDetections.confidence, req.minConfidence),
  ];
  if (req.symbols?.length) where.push(inArray(patternDetections.symbol, [...req.symbols]));
  return db
    .select()
    .from(patternDetections)
    .where(and(...where))
    .orderBy(desc(patternDetections.confidence), desc(patternDetections.id))
    .limit(req.limit);
}

export async function listPatternDefinitions(db: Db) {
  return db.select().from(patternDefinitions).orderBy(patternDefinitions.name);
}

/** The newest stored detection's receive time, by primary key (no scan). */
export async function lastReceivedAt(db: Db): Promise<Date | null> {
  const [row] = await db
    .select({ at: patternDetections.receivedAt })
    .from(patternDetections)
    .orderBy(desc(patternDetections.id))
    .limit(1);
  return row?.at ?? null;
}
