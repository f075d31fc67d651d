/**
 * Reading detections: connections, replay pages, REST, pattern definitions. The filter's SQL
 * here and its in-memory twin (`domain/pattern-filter.ts`) follow the same rules.
 */
import { and, asc, desc, eq, gt, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { normalizePatternName, prioritiesAtLeast, type PatternFilter } from '../domain/pattern-filter.js';
import { normalizeSymbol } from '../domain/symbols.js';
import { patternDefinitions, patternDetections, type DetectionRow } from '../schema/db.js';
import type { Tier } from '../schema/events.js';
import type { DrizzleDb } from './client.js';

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
export async function findDetectionsPage(
  db: DrizzleDb,
  req: PageRequest,
): Promise<{ rows: DetectionRow[]; hasNextPage: boolean }> {
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
  db: DrizzleDb,
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

/**
 * How many detections with id > `after` match the filter, counting no further than `cap`:
 * a replay's length, checked before it starts, at the cost of reading at most `cap` index
 * entries (`SELECT count(*) FROM (SELECT 1 … LIMIT cap)`).
 */
export async function countDetectionsAfter(
  db: DrizzleDb,
  filter: PatternFilter | null | undefined,
  after: number,
  cap: number,
): Promise<number> {
  const matching = db
    .select({ one: sql`1`.as('one') })
    .from(patternDetections)
    .where(and(gt(patternDetections.id, after), ...filterConditions(filter)))
    .limit(cap)
    .as('matching');
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(matching);
  return row?.n ?? 0;
}

export async function findDetectionById(db: DrizzleDb, id: number): Promise<DetectionRow | null> {
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
export async function findRecentByConfidence(db: DrizzleDb, req: RecentRequest): Promise<DetectionRow[]> {
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

export async function listPatternDefinitions(db: DrizzleDb) {
  return db.select().from(patternDefinitions).orderBy(patternDefinitions.name);
}

/** The newest stored detection's receive time, by primary key (no scan). */
export async function lastReceivedAt(db: DrizzleDb): Promise<Date | null> {
  const [row] = await db
    .select({ at: patternDetections.receivedAt })
    .from(patternDetections)
    .orderBy(desc(patternDetections.id))
    .limit(1);
  return row?.at ?? null;
}
