/**
 * The inbox (contract §6): a user's acknowledged position, and the stored detections that match
 * any of their watchlists. "Matches any" is the OR of each watchlist's filter SQL, the same
 * rules as `compileFilter` (through `filterConditions`).
 */
import { and, desc, eq, gt, lt, or, sql, type SQL } from 'drizzle-orm';
import { patternDetections, users, type DetectionRow, type WatchlistFilter } from '../schema/db.js';
import type { SavedWatchlist } from '../domain/watchlist-index.js';
import type { DrizzleDb } from './client.js';
import { filterConditions } from './detection-queries.js';

/**
 * SQL true when a detection matches at least one of `list` (false for an empty list): the OR of
 * each watchlist's filter SQL. Watchlists that differ only in their symbols become one arm with
 * the union of them (one without symbols absorbs the others of its kind), so 50 symbol lists are
 * one `symbol = ANY(…)`, which PostgreSQL plans in a fraction of the time 50 arms take.
 */
export function matchesAnyWatchlist(list: readonly SavedWatchlist[]): SQL {
  if (list.length === 0) return sql`false`;
  const arms = new Map<string, { filter: WatchlistFilter; symbols: Set<string> | null }>();
  for (const { filter } of list) {
    const key = JSON.stringify({ ...filter, symbols: null });
    const symbols = filter.symbols?.length ? filter.symbols : null;
    const arm = arms.get(key);
    if (!arm) arms.set(key, { filter, symbols: symbols && new Set(symbols) });
    else if (!symbols) arm.symbols = null;
    else if (arm.symbols) for (const s of symbols) arm.symbols.add(s);
  }
  const each = [...arms.values()].map(
    ({ filter, symbols }) => and(...filterConditions({ ...filter, symbols: symbols && [...symbols] })) ?? sql`true`,
  );
  return each.length === 1 ? each[0]! : or(...each)!;
}

export async function lastAcknowledgedId(db: DrizzleDb, userId: number): Promise<number> {
  const [row] = await db.select({ id: users.lastAcknowledgedId }).from(users).where(eq(users.id, userId));
  return row?.id ?? 0;
}

/**
 * Moves the user's position to `upTo`, never back, and never past the newest stored detection
 * (acknowledging ids that do not exist yet would hide alerts still to come). Returns the
 * position after the move.
 */
export async function acknowledge(db: DrizzleDb, userId: number, upTo: number): Promise<number> {
  const newest = sql`(SELECT coalesce(max(${patternDetections.id}), 0) FROM ${patternDetections})`;
  const [row] = await db
    .update(users)
    .set({ lastAcknowledgedId: sql`greatest(${users.lastAcknowledgedId}, least(${upTo}::bigint, ${newest}))` })
    .where(eq(users.id, userId))
    .returning({ id: users.lastAcknowledgedId });
  return row?.id ?? 0;
}

/**
 * The three reads of the inbox, as queries (not yet run), so `bench/inbox-plans.ts` can show
 * the plans of exactly what runs here. Each needs a non-empty `list`.
 */
export const inboxQueries = {
  /** The newest `cap` matching detections above `after`, newest first. */
  unacknowledged: (db: DrizzleDb, list: readonly SavedWatchlist[], after: number, cap: number) =>
    db
      .select()
      .from(patternDetections)
      .where(and(gt(patternDetections.id, after), matchesAnyWatchlist(list)))
      .orderBy(desc(patternDetections.id))
      .limit(cap),
  /** How many match above `after`, reading no further than `cap` of them. */
  unread: (db: DrizzleDb, list: readonly SavedWatchlist[], after: number, cap: number) =>
    db.select({ n: sql<number>`count(*)::int` }).from(
      db
        .select({ one: sql`1`.as('one') })
        .from(patternDetections)
        .where(and(gt(patternDetections.id, after), matchesAnyWatchlist(list)))
        .limit(cap)
        .as('matching'),
    ),
  /** A page, newest first, below `before`, with one extra row to answer `hasNextPage`. */
  page: (db: DrizzleDb, list: readonly SavedWatchlist[], first: number, before: number | null) =>
    db
      .select()
      .from(patternDetections)
      .where(and(matchesAnyWatchlist(list), before === null ? undefined : lt(patternDetections.id, before)))
      .orderBy(desc(patternDetections.id))
      .limit(first + 1),
};

/**
 * The newest `cap` matching detections above `after`, oldest first: a `myAlerts` replay, which
 * keeps the newest when there are more.
 */
export async function findUnacknowledged(
  db: DrizzleDb,
  list: readonly SavedWatchlist[],
  after: number,
  cap: number,
): Promise<DetectionRow[]> {
  if (list.length === 0) return [];
  return (await inboxQueries.unacknowledged(db, list, after, cap)).reverse();
}

/** How many matching detections lie above `after`, counting no further than `cap`. */
export async function countUnacknowledged(
  db: DrizzleDb,
  list: readonly SavedWatchlist[],
  after: number,
  cap: number,
): Promise<number> {
  if (list.length === 0) return 0;
  const [row] = await inboxQueries.unread(db, list, after, cap);
  return row?.n ?? 0;
}

/** One page of matching detections, newest first, below `before`. */
export async function findAlertsPage(
  db: DrizzleDb,
  list: readonly SavedWatchlist[],
  first: number,
  before: number | null,
): Promise<{ rows: DetectionRow[]; hasNextPage: boolean }> {
  if (list.length === 0) return { rows: [], hasNextPage: false };
  const rows = await inboxQueries.page(db, list, first, before);
  const hasNextPage = rows.length > first;
  return { rows: hasNextPage ? rows.slice(0, first) : rows, hasNextPage };
}
