/**
 * Writing detections: the batch insert, the pattern-definition counts and the publication
 * cursor, for the detection writer (workers/store/detection-writer.ts), which calls these under
 * the write lock. Reads are in `detection-queries.ts`.
 */
import { asc, eq, gt, sql, type SQL } from 'drizzle-orm';
import {
  notificationRulesVersion,
  patternDefinitions,
  patternDetections,
  publicationCursor,
  type DetectionRow,
} from '../schema/db.js';
import type { Classification, PatternEvent } from '../schema/events.js';
import type { DrizzleDb } from './client.js';

export interface DetectionToStore {
  event: PatternEvent;
  classification: Classification;
}

/**
 * INSERT … ON CONFLICT (event_id) DO NOTHING RETURNING * for a batch. The batch travels as one
 * JSON parameter, expanded by PostgreSQL: the query builder spent a third of the worker's CPU
 * on a 200-row VALUES list (15 parameters a row).
 */
function insertDetectionsSql(items: readonly DetectionToStore[]): SQL {
  const rows = items.map(({ event, classification: c }) => ({
    event_id: event.eventId,
    symbol: event.symbol,
    pattern: event.pattern,
    confidence: event.confidence,
    tier: c.tier,
    priority: c.priority,
    timeframe: event.timeframe,
    category: event.category,
    price: event.price,
    detected_at: event.detectedAt,
    received_at: event.receivedAt,
    expires_at: event.expiresAt,
    source: event.source,
    metadata: c.unrecognisedTier ? { ...event.metadata, unrecognised_tier: c.unrecognisedTier } : event.metadata,
  }));
  return sql`
    INSERT INTO ${patternDetections} (event_id, symbol, pattern, confidence, tier, priority, timeframe, category,
      price, detected_at, received_at, expires_at, source, metadata)
    SELECT event_id, symbol, pattern, confidence, tier::pattern_tier, priority::pattern_priority, timeframe, category,
      price, detected_at, received_at, expires_at, source, metadata
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(event_id text, symbol text, pattern text,
      confidence double precision, tier text, priority text, timeframe text, category text, price double precision,
      detected_at timestamptz, received_at timestamptz, expires_at timestamptz, source text, metadata jsonb)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING *`;
}

/** A `pattern_detections` row as the drivers return it from raw SQL (or `to_jsonb(row)`). */
export interface RawDetectionRow {
  id: number | string;
  event_id: string;
  symbol: string;
  pattern: string;
  confidence: number;
  tier: DetectionRow['tier'];
  priority: DetectionRow['priority'];
  timeframe: string | null;
  category: string | null;
  price: number | null;
  detected_at: Date | string;
  received_at: Date | string;
  expires_at: Date | string | null;
  stored_at: Date | string;
  source: string;
  metadata: DetectionRow['metadata'];
}

/** PGlite returns timestamptz as a Date, node-postgres's raw rows as a string. */
const asDate = (v: Date | string) => (v instanceof Date ? v : new Date(v));

export function fromRaw(r: RawDetectionRow): DetectionRow {
  return {
    // bigserial: node-postgres returns int8 as a string.
    id: Number(r.id),
    eventId: r.event_id,
    symbol: r.symbol,
    pattern: r.pattern,
    confidence: r.confidence,
    tier: r.tier,
    priority: r.priority,
    timeframe: r.timeframe,
    category: r.category,
    price: r.price,
    detectedAt: asDate(r.detected_at),
    receivedAt: asDate(r.received_at),
    expiresAt: r.expires_at === null ? null : asDate(r.expires_at),
    storedAt: asDate(r.stored_at),
    source: r.source,
    metadata: r.metadata,
  };
}

/** A page of what the writer must publish, oldest first. */
export interface Publication {
  rows: DetectionRow[];
  /** More rows above the cursor wait beyond this page (a large backlog left by a crash). */
  more: boolean;
  /**
   * `notification_rules_version` as the store statement saw it (undefined when not read): the
   * writer's cached notification rules are reloaded only when it moved.
   */
  rulesVersion?: number;
}

/** What `storeForPublication` stored, beside what to publish. */
export interface StoredBatch extends Publication {
  /** The `event_id`s of the rows this statement inserted (the others were stored before). */
  inserted: string[];
}

const PUBLICATION_PAGE = 1_000;

/**
 * Stores a batch and returns what to publish next: rows a crashed writer left above the
 * publication cursor, then this batch's new rows, in id order. Call under the write lock;
 * publish the rows, then `advancePublicationCursor`.
 *
 * One statement, so one round trip and its own transaction: the latency of a quiet pipeline is
 * mostly round trips to PostgreSQL (a BEGIN … six statements … COMMIT version took 4 ms per
 * single-detection write on an idle machine). Its CTEs read the snapshot from before the insert,
 * so `left_behind` holds only rows committed earlier.
 */
export async function storeForPublication(db: DrizzleDb, items: readonly DetectionToStore[]): Promise<StoredBatch> {
  if (items.length === 0) return { ...(await findUnpublished(db)), inserted: [] };
  const result = await db.execute(storeForPublicationSql(items));
  const raw = (result as { rows: (RawDetectionRow & { fresh: boolean; rules_version: number | string })[] }).rows;
  const inserted = raw.filter((r) => r.fresh).map((r) => r.event_id);
  const rulesVersion = raw.length > 0 ? Number(raw[0]!.rules_version) : undefined;
  const byId = (a: DetectionRow, b: DetectionRow) => a.id - b.id;
  const leftBehind = raw
    .filter((r) => !r.fresh)
    .map(fromRaw)
    .sort(byId);
  // A full page means more may wait below this batch's ids: publish that page alone, in order.
  if (leftBehind.length === PUBLICATION_PAGE) return { rows: leftBehind, more: true, inserted, rulesVersion };
  return {
    rows: [
      ...leftBehind,
      ...raw
        .filter((r) => r.fresh)
        .map(fromRaw)
        .sort(byId),
    ],
    more: false,
    inserted,
    rulesVersion,
  };
}

/** The statement of `storeForPublication` (exported for the test that checks its plan). */
export function storeForPublicationSql(items: readonly DetectionToStore[]): SQL {
  const d = patternDefinitions;
  return sql`
    WITH cursor AS (
      -- FOR UPDATE waits for the previous writer's cursor move to commit (see advancePublicationCursorSql).
      SELECT last_published_id FROM ${publicationCursor} WHERE id = 1 FOR UPDATE
    ), ins AS (
      ${insertDetectionsSql(items)}
    ), defs AS (
      INSERT INTO ${d} (name, category, timeframes, detections, first_seen_at, last_seen_at)
      SELECT pattern, (array_agg(category) FILTER (WHERE category IS NOT NULL))[1],
        coalesce(array_agg(DISTINCT timeframe ORDER BY timeframe) FILTER (WHERE timeframe IS NOT NULL), '{}'),
        count(*), min(detected_at), max(detected_at)
      FROM ins GROUP BY pattern
      ON CONFLICT (name) DO UPDATE SET
        detections = ${d.detections} + excluded.detections,
        category = coalesce(${d.category}, excluded.category),
        timeframes = array(SELECT DISTINCT unnest(${d.timeframes} || excluded.timeframes) ORDER BY 1),
        first_seen_at = least(${d.firstSeenAt}, excluded.first_seen_at),
        last_seen_at = greatest(${d.lastSeenAt}, excluded.last_seen_at)
    ), rules AS (
      -- One row: read with every batch so the writer knows when its notification rules changed.
      SELECT version FROM ${notificationRulesVersion} WHERE id = 1
    ), left_behind AS (
      -- A scalar subquery, so the bound is a parameter of an index range scan; joined to the
      -- cursor instead, the plan walked the whole primary key per batch (writes fell from
      -- 15,000/s to 2,300/s as the table grew to 800,000 rows).
      SELECT p.* FROM ${patternDetections} p WHERE p.id > (SELECT last_published_id FROM cursor)
      ORDER BY p.id LIMIT ${PUBLICATION_PAGE}
    )
    SELECT false AS fresh, (SELECT version FROM rules) AS rules_version, left_behind.* FROM left_behind
    UNION ALL
    SELECT true AS fresh, (SELECT version FROM rules) AS rules_version, ins.* FROM ins`;
}

/**
 * Rows to publish, oldest first: every stored detection above the publication cursor. Normally
 * that is the batch just stored; after a writer died between commit and publish it also holds
 * what that writer left behind. Call under the write lock, then `advancePublicationCursor`.
 */
export async function findUnpublished(db: DrizzleDb, limit = PUBLICATION_PAGE): Promise<Publication> {
  const rows = await db
    .select()
    .from(patternDetections)
    .where(gt(patternDetections.id, await readCursor(db)))
    .orderBy(asc(patternDetections.id))
    .limit(limit);
  return { rows, more: rows.length === limit };
}

export async function advancePublicationCursor(db: DrizzleDb, lastPublishedId: number): Promise<void> {
  await db.execute(advancePublicationCursorSql(lastPublishedId));
}

/**
 * The statement of `advancePublicationCursor`, to send with the release of the write lock. The
 * next holder may get the lock before this commits, so every read of the cursor under the lock
 * is FOR UPDATE: it waits for the commit and sees the moved cursor.
 */
export function advancePublicationCursorSql(lastPublishedId: number): SQL {
  const c = publicationCursor;
  return sql`UPDATE ${c} SET last_published_id = greatest(${c.lastPublishedId}, ${lastPublishedId}) WHERE ${c.id} = 1 RETURNING ${c.id}`;
}

async function readCursor(db: DrizzleDb): Promise<number> {
  const [cursor] = await db.select().from(publicationCursor).where(eq(publicationCursor.id, 1)).for('update');
  if (!cursor) throw new Error('publication_cursor has no row: run the migrations');
  return cursor.lastPublishedId;
}
