/**
 * Watchlists (contract §6): a user's saved filters. Every read and write is scoped to the user:
 * another user's watchlist is not found here, so the API can answer NOT_FOUND without a second
 * look.
 */
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { users, watchlists, type WatchlistFilter } from '../schema/db.js';
import type { DrizzleDb } from './client.js';

export type WatchlistRow = typeof watchlists.$inferSelect;

export async function listWatchlists(db: DrizzleDb, userId: number): Promise<WatchlistRow[]> {
  return db.select().from(watchlists).where(eq(watchlists.userId, userId)).orderBy(asc(watchlists.id));
}

/** The watchlists of each of `userIds` (oldest first, as `listWatchlists`), in one query; a user without any is absent. */
export async function listWatchlistsOfUsers(db: DrizzleDb, userIds: readonly number[]): Promise<Map<number, WatchlistRow[]>> {
  const byUser = new Map<number, WatchlistRow[]>();
  if (userIds.length === 0) return byUser;
  const rows = await db
    .select()
    .from(watchlists)
    .where(inArray(watchlists.userId, [...userIds]))
    .orderBy(asc(watchlists.id));
  for (const row of rows) {
    const list = byUser.get(row.userId);
    if (list) list.push(row);
    else byUser.set(row.userId, [row]);
  }
  return byUser;
}

export async function findWatchlist(db: DrizzleDb, userId: number, id: number): Promise<WatchlistRow | null> {
  const [row] = await db
    .select()
    .from(watchlists)
    .where(and(eq(watchlists.id, id), eq(watchlists.userId, userId)));
  return row ?? null;
}

/**
 * Creates one, unless the user already has `max`: then null. The user's row is locked for the
 * count, so two creations at once cannot both pass the limit.
 */
export async function createWatchlist(
  db: DrizzleDb,
  userId: number,
  name: string,
  filter: WatchlistFilter,
  max: number,
): Promise<WatchlistRow | null> {
  return db.transaction(async (tx) => {
    await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for('update');
    const [held] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(watchlists)
      .where(eq(watchlists.userId, userId));
    if ((held?.n ?? 0) >= max) return null;
    const [row] = await tx.insert(watchlists).values({ userId, name, filter }).returning();
    return row!;
  });
}

export async function updateWatchlist(
  db: DrizzleDb,
  userId: number,
  id: number,
  name: string,
  filter: WatchlistFilter,
): Promise<WatchlistRow | null> {
  const [row] = await db
    .update(watchlists)
    .set({ name, filter, updatedAt: sql`now()` })
    .where(and(eq(watchlists.id, id), eq(watchlists.userId, userId)))
    .returning();
  return row ?? null;
}

export async function deleteWatchlist(db: DrizzleDb, userId: number, id: number): Promise<boolean> {
  const rows = await db
    .delete(watchlists)
    .where(and(eq(watchlists.id, id), eq(watchlists.userId, userId)))
    .returning({ id: watchlists.id });
  return rows.length > 0;
}
