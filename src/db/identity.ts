/**
 * Users and API tokens (contract §5). Only a token's SHA-256 is stored; callers pass the hash.
 */
import { and, asc, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import { apiTokens, patternDetections, users, type Role } from '../schema/db.js';
import type { DrizzleDb } from './client.js';

export type UserRow = typeof users.$inferSelect;
export type TokenRow = typeof apiTokens.$inferSelect;
export type TokenWithUser = TokenRow & { user: UserRow };

/** The user and token a secret belongs to, if it is live: not revoked, not expired, its user not deleted. */
export async function findLiveToken(db: DrizzleDb, hash: Buffer): Promise<TokenWithUser | null> {
  const [row] = await db
    .select({ token: apiTokens, user: users })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(
      and(
        eq(apiTokens.tokenHash, hash),
        isNull(apiTokens.revokedAt),
        or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`)),
      ),
    );
  return row ? { ...row.token, user: row.user } : null;
}

/** Of `tokenIds`, the ones still live: one query for every open socket of a process. */
export async function liveTokenIds(db: DrizzleDb, tokenIds: readonly number[]): Promise<Set<number>> {
  if (tokenIds.length === 0) return new Set();
  const rows = await db
    .select({ id: apiTokens.id })
    .from(apiTokens)
    .where(
      and(
        inArray(apiTokens.id, [...tokenIds]),
        isNull(apiTokens.revokedAt),
        or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, sql`now()`)),
      ),
    );
  return new Set(rows.map((r) => r.id));
}

/** Of `userIds`, the ones that still exist, with their role. */
export async function existingUsers(db: DrizzleDb, userIds: readonly number[]): Promise<Map<number, Role>> {
  if (userIds.length === 0) return new Map();
  const rows = await db
    .select({ id: users.id, role: users.role })
    .from(users)
    .where(inArray(users.id, [...userIds]));
  return new Map(rows.map((r) => [r.id, r.role]));
}

export async function touchToken(db: DrizzleDb, tokenId: number): Promise<void> {
  await db
    .update(apiTokens)
    .set({ lastUsedAt: sql`now()` })
    .where(eq(apiTokens.id, tokenId));
}

export async function findUserById(db: DrizzleDb, id: number): Promise<UserRow | null> {
  const [row] = await db.select().from(users).where(eq(users.id, id));
  return row ?? null;
}

export async function findUserByName(db: DrizzleDb, name: string): Promise<UserRow | null> {
  const [row] = await db.select().from(users).where(eq(users.name, name));
  return row ?? null;
}

export async function listUsers(db: DrizzleDb): Promise<UserRow[]> {
  return db.select().from(users).orderBy(asc(users.id));
}

/** Null when the name is taken. */
/** A new user's inbox starts at the newest detection: the history before them is not "unread". */
const newestDetectionId = sql`(SELECT coalesce(max(${patternDetections.id}), 0) FROM ${patternDetections})`;

export async function createUser(db: DrizzleDb, name: string, role: Role): Promise<UserRow | null> {
  const [row] = await db
    .insert(users)
    .values({ name, role, lastAcknowledgedId: newestDetectionId })
    .onConflictDoNothing({ target: users.name })
    .returning();
  return row ?? null;
}

/**
 * A host application's user, seen for the first time or again: created as `role` on first
 * sight; a later JWT with another role claim changes it.
 */
export async function upsertExternalUser(db: DrizzleDb, name: string, role: Role): Promise<UserRow> {
  const [row] = await db
    .insert(users)
    .values({ name, role, lastAcknowledgedId: newestDetectionId })
    .onConflictDoUpdate({ target: users.name, set: { role }, setWhere: sql`${users.role} <> excluded.role` })
    .returning();
  return row ?? (await findUserByName(db, name))!;
}

export async function setUserRole(db: DrizzleDb, id: number, role: Role): Promise<UserRow | null> {
  const [row] = await db.update(users).set({ role }).where(eq(users.id, id)).returning();
  return row ?? null;
}

/** Deletes the user and (by cascade) its tokens; false when there was no such user. */
export async function deleteUser(db: DrizzleDb, id: number): Promise<boolean> {
  const rows = await db.delete(users).where(eq(users.id, id)).returning({ id: users.id });
  return rows.length > 0;
}

export async function countUsers(db: DrizzleDb): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(users);
  return row?.n ?? 0;
}

export interface NewToken {
  userId: number;
  name: string;
  hash: Buffer;
  expiresAt: Date | null;
}

export async function insertToken(db: DrizzleDb, t: NewToken): Promise<TokenRow> {
  const [row] = await db
    .insert(apiTokens)
    .values({ userId: t.userId, name: t.name, tokenHash: t.hash, expiresAt: t.expiresAt })
    .returning();
  return row!;
}

/** A user's tokens, or every token (`userId` null), newest first. */
export async function listTokens(db: DrizzleDb, userId: number | null): Promise<TokenWithUser[]> {
  const rows = await db
    .select({ token: apiTokens, user: users })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(userId === null ? undefined : eq(apiTokens.userId, userId))
    .orderBy(sql`${apiTokens.id} desc`);
  return rows.map((r) => ({ ...r.token, user: r.user }));
}

export async function findToken(db: DrizzleDb, id: number): Promise<TokenWithUser | null> {
  const [row] = await db
    .select({ token: apiTokens, user: users })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(eq(apiTokens.id, id));
  return row ? { ...row.token, user: row.user } : null;
}

/** Revokes (once: a revoked token keeps its first revocation time) and returns the token. */
export async function revokeToken(db: DrizzleDb, id: number): Promise<TokenWithUser | null> {
  await db
    .update(apiTokens)
    .set({ revokedAt: sql`coalesce(${apiTokens.revokedAt}, now())` })
    .where(eq(apiTokens.id, id));
  return findToken(db, id);
}
