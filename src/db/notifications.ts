/**
 * Notification rules and deliveries (contract §7). Every read and write of the API is scoped
 * to its user, so another user's rule is simply not found. The statements of the detection
 * writer (creating deliveries), of the delivery engine (claim, settle, digests) and of the
 * relay's sweep live here too.
 */
import { and, asc, desc, eq, sql, type SQL } from 'drizzle-orm';
import {
  notificationDeliveries,
  notificationRules,
  notificationRulesVersion,
  patternDetections,
  users,
  watchlists,
  type DeliveryKind,
  type DeliveryStatus,
  type NotificationChannel,
  type WatchlistFilter,
} from '../schema/db.js';
import type { Priority } from '../schema/events.js';
import type { Detection } from '../schema/topics.js';
import type { DrizzleDb } from './client.js';
import { fromRaw, type RawDetectionRow } from './detection-store.js';
import type { WatchlistRow } from './watchlists.js';

export type RuleRow = typeof notificationRules.$inferSelect;
export type DeliveryRow = typeof notificationDeliveries.$inferSelect;
/** A rule as the API serves it: with its watchlist. */
export type RuleWithWatchlist = RuleRow & { watchlist: WatchlistRow };

const rows = <T>(result: unknown) => (result as { rows: T[] }).rows;
const num = (v: number | string) => Number(v);
const asDate = (v: Date | string) => (v instanceof Date ? v : new Date(v));
const ms = (n: number) => sql`(${n}::double precision * interval '1 millisecond')`;

// ---- rules (the API)

export interface NewRule {
  userId: number;
  watchlistId: number;
  channel: NotificationChannel;
  target: string;
  minPriority: Priority;
  maxPerHour: number;
  /** WEBHOOK: the sealed secret. */
  secret: string | null;
}

export type CreateRuleResult =
  { ok: true; rule: RuleWithWatchlist } | { ok: false; reason: 'watchlist' | 'rulesPerUser' | 'rulesPerWatchlist' };

/**
 * Creates a rule unless its watchlist is not the user's or a limit is reached. The user's row
 * is locked for the counts, so two creations at once cannot both pass a limit. Call it under
 * the detection write lock: then no batch is half-stored while the rule reads the newest
 * detection id, and every detection above that id is matched against it.
 */
export async function createRule(
  db: DrizzleDb,
  rule: NewRule,
  limits: { perUser: number; perWatchlist: number },
): Promise<CreateRuleResult> {
  return db.transaction(async (tx) => {
    await tx.select({ id: users.id }).from(users).where(eq(users.id, rule.userId)).for('update');
    const [watchlist] = await tx
      .select()
      .from(watchlists)
      .where(and(eq(watchlists.id, rule.watchlistId), eq(watchlists.userId, rule.userId)));
    if (!watchlist) return { ok: false, reason: 'watchlist' } as const;
    const [held] = await tx
      .select({
        user: sql<number>`count(*)::int`,
        watchlist: sql<number>`(count(*) FILTER (WHERE ${notificationRules.watchlistId} = ${watchlist.id}))::int`,
      })
      .from(notificationRules)
      .where(eq(notificationRules.userId, rule.userId));
    if ((held?.user ?? 0) >= limits.perUser) return { ok: false, reason: 'rulesPerUser' } as const;
    if ((held?.watchlist ?? 0) >= limits.perWatchlist) return { ok: false, reason: 'rulesPerWatchlist' } as const;
    const [row] = await tx
      .insert(notificationRules)
      .values({ ...rule, afterDetectionId: sql`(SELECT coalesce(max(${patternDetections.id}), 0) FROM ${patternDetections})` })
      .returning();
    return { ok: true, rule: { ...row!, watchlist } } as const;
  });
}

function rulesWithWatchlists(db: DrizzleDb, where: SQL | undefined) {
  return db
    .select({ rule: notificationRules, watchlist: watchlists })
    .from(notificationRules)
    .innerJoin(watchlists, eq(watchlists.id, notificationRules.watchlistId))
    .where(where)
    .orderBy(asc(notificationRules.id))
    .then((list) => list.map(({ rule, watchlist }) => ({ ...rule, watchlist })));
}

export function listRules(db: DrizzleDb, userId: number): Promise<RuleWithWatchlist[]> {
  return rulesWithWatchlists(db, eq(notificationRules.userId, userId));
}

export async function findRule(db: DrizzleDb, userId: number, id: number): Promise<RuleWithWatchlist | null> {
  const [rule] = await rulesWithWatchlists(db, and(eq(notificationRules.id, id), eq(notificationRules.userId, userId)));
  return rule ?? null;
}

/** Enabling clears the reason the system disabled it (a 410). */
export async function setRuleEnabled(
  db: DrizzleDb,
  userId: number,
  id: number,
  enabled: boolean,
): Promise<RuleWithWatchlist | null> {
  const changed = await db
    .update(notificationRules)
    .set({ enabled, disabledReason: null })
    .where(and(eq(notificationRules.id, id), eq(notificationRules.userId, userId)))
    .returning({ id: notificationRules.id });
  return changed.length > 0 ? findRule(db, userId, id) : null;
}

/** Its deliveries go with it (foreign key, cascade); jobs still queued for them find nothing and end. */
export async function deleteRule(db: DrizzleDb, userId: number, id: number): Promise<boolean> {
  const gone = await db
    .delete(notificationRules)
    .where(and(eq(notificationRules.id, id), eq(notificationRules.userId, userId)))
    .returning({ id: notificationRules.id });
  return gone.length > 0;
}

/** A TEST delivery, unless the rule had `max` of them within the window: then null. */
export async function createTestDelivery(
  db: DrizzleDb,
  rule: RuleRow,
  max: number,
  windowMs: number,
): Promise<DeliveryRow | null> {
  return db.transaction(async (tx) => {
    // Locked, so two tests at once cannot both pass the limit.
    await tx.select({ id: notificationRules.id }).from(notificationRules).where(eq(notificationRules.id, rule.id)).for('update');
    const d = notificationDeliveries;
    const [recent] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(d)
      .where(and(eq(d.ruleId, rule.id), eq(d.kind, 'TEST'), sql`${d.createdAt} > now() - ${ms(windowMs)}`));
    if ((recent?.n ?? 0) >= max) return null;
    const [row] = await tx
      .insert(d)
      .values({ ruleId: rule.id, userId: rule.userId, kind: 'TEST', status: 'PENDING' })
      .returning();
    return row!;
  });
}

export interface DeliveryListing {
  delivery: DeliveryRow;
  rule: RuleWithWatchlist;
  detection: Detection | null;
}

/** The user's deliveries, newest first, optionally of one rule and in one status; rule and detection joined. */
export async function listDeliveries(
  db: DrizzleDb,
  userId: number,
  q: { ruleId: number | null; status: DeliveryStatus | null; first: number },
): Promise<DeliveryListing[]> {
  const d = notificationDeliveries;
  const list = await db
    .select({ delivery: d, rule: notificationRules, watchlist: watchlists, detection: patternDetections })
    .from(d)
    .innerJoin(notificationRules, eq(notificationRules.id, d.ruleId))
    .innerJoin(watchlists, eq(watchlists.id, notificationRules.watchlistId))
    .leftJoin(patternDetections, eq(patternDetections.id, d.detectionId))
    .where(
      and(
        eq(d.userId, userId),
        q.ruleId === null ? undefined : eq(d.ruleId, q.ruleId),
        q.status ? eq(d.status, q.status) : undefined,
      ),
    )
    .orderBy(desc(d.id))
    .limit(q.first);
  return list.map(({ delivery, rule, watchlist, detection }) => ({ delivery, rule: { ...rule, watchlist }, detection }));
}

// ---- the detection writer: which rules exist, and the deliveries a batch makes

export async function readRulesVersion(db: DrizzleDb): Promise<number> {
  const [row] = await db.select().from(notificationRulesVersion).where(eq(notificationRulesVersion.id, 1));
  if (!row) throw new Error('notification_rules_version has no row: run the migrations');
  return row.version;
}

export interface ActiveRules {
  version: number;
  rules: { id: number; minPriority: Priority; afterDetectionId: number; filter: WatchlistFilter }[];
}

/** Every enabled rule with its watchlist's filter, and the version they are of, in one statement. */
export async function loadActiveRules(db: DrizzleDb): Promise<ActiveRules> {
  const result = await db.execute(sql`
    SELECT v.version, r.id, r.min_priority, r.after_detection_id, w.filter
    FROM ${notificationRulesVersion} v
    LEFT JOIN (${notificationRules} r JOIN ${watchlists} w ON w.id = r.watchlist_id) ON r.enabled
    WHERE v.id = 1`);
  const list = rows<{
    version: number | string;
    id: number | string | null;
    min_priority: Priority;
    after_detection_id: number | string;
    filter: WatchlistFilter;
  }>(result);
  if (list.length === 0) throw new Error('notification_rules_version has no row: run the migrations');
  return {
    version: num(list[0]!.version),
    rules: list
      .filter((r) => r.id !== null)
      .map((r) => ({
        id: num(r.id!),
        minPriority: r.min_priority,
        afterDetectionId: num(r.after_detection_id),
        filter: r.filter,
      })),
  };
}

/** A delivery the writer made: to queue (PENDING alerts and new digests) or only to count (SUPPRESSED). */
export interface CreatedDelivery {
  id: number;
  kind: DeliveryKind;
  status: DeliveryStatus;
  channel: NotificationChannel;
  /** DIGEST: when it goes out. */
  dueAt: Date | null;
}

/**
 * One ALERT delivery per (rule, detection) pair not made before — idempotent, so a writer that
 * died after this and before moving the publication cursor makes none twice when its rows are
 * published again. Rules disabled or deleted meanwhile make none (locked FOR KEY SHARE, so one
 * being deleted is waited for and skipped rather than failing the foreign key).
 *
 * The hourly cap in the same statement: a rule's alerts beyond `max_per_hour` in the last
 * `windowMs` (counting those not suppressed, then this batch's in detection order) are
 * SUPPRESSED, and the rule's open digest is created if it has none, due when the window that
 * filled the cap ends (its oldest counted alert + the window). Call under the write lock.
 */
export async function insertAlertDeliveries(
  db: DrizzleDb,
  pairs: readonly { ruleId: number; detectionId: number }[],
  windowMs: number,
): Promise<CreatedDelivery[]> {
  const d = notificationDeliveries;
  const json = JSON.stringify(pairs.map((p) => ({ rule_id: p.ruleId, detection_id: p.detectionId })));
  const result = await db.execute(sql`
    WITH cand AS (
      SELECT * FROM jsonb_to_recordset(${json}::jsonb) AS c(rule_id bigint, detection_id bigint)
    ), live AS (
      SELECT r.id, r.user_id, r.max_per_hour, r.channel FROM ${notificationRules} r
      WHERE r.id IN (SELECT rule_id FROM cand) AND r.enabled
      FOR KEY SHARE OF r
    ), fresh AS (
      SELECT c.rule_id, c.detection_id, row_number() OVER (PARTITION BY c.rule_id ORDER BY c.detection_id) AS n
      FROM cand c
      WHERE c.rule_id IN (SELECT id FROM live)
        AND NOT EXISTS (SELECT 1 FROM ${d} x WHERE x.rule_id = c.rule_id AND x.detection_id = c.detection_id)
    ), used AS (
      SELECT x.rule_id, count(*) AS n, min(x.created_at) AS oldest FROM ${d} x
      WHERE x.rule_id IN (SELECT id FROM live) AND x.kind = 'ALERT' AND x.status <> 'SUPPRESSED'
        AND x.created_at > now() - ${ms(windowMs)}
      GROUP BY x.rule_id
    ), ins AS (
      INSERT INTO ${d} (rule_id, user_id, kind, detection_id, status)
      SELECT f.rule_id, l.user_id, 'ALERT', f.detection_id,
        (CASE WHEN coalesce(u.n, 0) + f.n <= l.max_per_hour THEN 'PENDING' ELSE 'SUPPRESSED' END)::delivery_status
      FROM fresh f JOIN live l ON l.id = f.rule_id LEFT JOIN used u ON u.rule_id = f.rule_id
      ON CONFLICT (rule_id, detection_id) DO NOTHING
      RETURNING id, rule_id, status
    ), digests AS (
      INSERT INTO ${d} (rule_id, user_id, kind, status, due_at)
      SELECT l.id, l.user_id, 'DIGEST', 'PENDING', coalesce(u.oldest, now()) + ${ms(windowMs)}
      FROM live l LEFT JOIN used u ON u.rule_id = l.id
      WHERE l.id IN (SELECT rule_id FROM ins WHERE status = 'SUPPRESSED')
      ON CONFLICT (rule_id) WHERE kind = 'DIGEST' AND collected_at IS NULL DO NOTHING
      RETURNING id, rule_id, due_at
    )
    SELECT ins.id, 'ALERT' AS kind, ins.status::text AS status, l.channel::text AS channel, NULL::timestamptz AS due_at
    FROM ins JOIN live l ON l.id = ins.rule_id
    UNION ALL
    SELECT g.id, 'DIGEST', 'PENDING', l.channel::text, g.due_at FROM digests g JOIN live l ON l.id = g.rule_id`);
  return rows<{
    id: number | string;
    kind: DeliveryKind;
    status: DeliveryStatus;
    channel: NotificationChannel;
    due_at: Date | string | null;
  }>(result).map((r) => ({
    id: num(r.id),
    kind: r.kind,
    status: r.status,
    channel: r.channel,
    dueAt: r.due_at === null ? null : asDate(r.due_at),
  }));
}

// ---- the delivery engine

/** A delivery taken for an attempt, with everything needed to send it. */
export interface ClaimedDelivery {
  id: number;
  kind: DeliveryKind;
  /** Attempts so far, this one included. */
  attempts: number;
  createdAt: Date;
  dueAt: Date | null;
  rule: { id: number; channel: NotificationChannel; target: string; secret: string | null; enabled: boolean };
  watchlist: { id: number; name: string };
  /** ALERT: the detection (null if it was deleted). */
  detection: Detection | null;
}

/**
 * Takes deliveries for an attempt: counts it (unless the rule is disabled and it is no test)
 * and returns what to send, in the order of `ids` — null for one with nothing to do: already
 * DELIVERED, FAILED or SUPPRESSED (a repeated job), or gone with its rule. One statement for
 * many (the engine batches them).
 */
export async function claimDeliveries(db: DrizzleDb, ids: readonly number[]): Promise<(ClaimedDelivery | null)[]> {
  const d = notificationDeliveries;
  const result = await db.execute(sql`
    WITH claimed AS (
      UPDATE ${d} x SET attempts = x.attempts + (CASE WHEN r.enabled OR x.kind = 'TEST' THEN 1 ELSE 0 END)
      FROM ${notificationRules} r
      WHERE x.id = ANY(${`{${ids.join(',')}}`}::bigint[]) AND r.id = x.rule_id AND x.status IN ('PENDING', 'RETRYING')
      RETURNING x.id, x.kind, x.attempts, x.created_at, x.due_at, x.detection_id,
        r.id AS rule_id, r.channel, r.target, r.secret, r.enabled, r.watchlist_id
    )
    SELECT c.*, w.name AS watchlist_name, to_jsonb(p) AS detection
    FROM claimed c JOIN ${watchlists} w ON w.id = c.watchlist_id
    LEFT JOIN ${patternDetections} p ON p.id = c.detection_id`);
  const byId = new Map<number, ClaimedDelivery>();
  for (const r of rows<{
    id: number | string;
    kind: DeliveryKind;
    attempts: number;
    created_at: Date | string;
    due_at: Date | string | null;
    rule_id: number | string;
    channel: NotificationChannel;
    target: string;
    secret: string | null;
    enabled: boolean;
    watchlist_id: number | string;
    watchlist_name: string;
    detection: RawDetectionRow | string | null;
  }>(result)) {
    const raw = typeof r.detection === 'string' ? (JSON.parse(r.detection) as RawDetectionRow) : r.detection;
    byId.set(num(r.id), {
      id: num(r.id),
      kind: r.kind,
      attempts: r.attempts,
      createdAt: asDate(r.created_at),
      dueAt: r.due_at === null ? null : asDate(r.due_at),
      rule: { id: num(r.rule_id), channel: r.channel, target: r.target, secret: r.secret, enabled: r.enabled },
      watchlist: { id: num(r.watchlist_id), name: r.watchlist_name },
      detection: raw ? fromRaw(raw) : null,
    });
  }
  return ids.map((id) => byId.get(id) ?? null);
}

export interface Outcome {
  id: number;
  status: 'DELIVERED' | 'RETRYING' | 'FAILED';
  error: string | null;
  /** Also disable the delivery's rule, with this reason (a 410). */
  disableRule?: string;
}

/**
 * Writes attempts' outcomes, each unless its delivery was settled already (by a repeated job);
 * returns, in order, whether each was written. One statement for many (the engine batches them).
 */
export async function writeOutcomes(db: DrizzleDb, outcomes: readonly Outcome[]): Promise<boolean[]> {
  const d = notificationDeliveries;
  const json = JSON.stringify(
    outcomes.map((o) => ({ id: o.id, status: o.status, error: o.error, disable: o.disableRule ?? null })),
  );
  const result = await db.execute(sql`
    WITH o AS (
      SELECT * FROM jsonb_to_recordset(${json}::jsonb) AS o(id bigint, status text, error text, disable text)
    ), done AS (
      UPDATE ${d} x SET status = o.status::delivery_status, last_error = o.error,
        delivered_at = CASE WHEN o.status = 'DELIVERED' THEN now() ELSE x.delivered_at END
      FROM o WHERE x.id = o.id AND x.status IN ('PENDING', 'RETRYING')
      RETURNING x.id, x.rule_id, o.disable
    ), off AS (
      -- Runs whether or not it is read: data-modifying CTEs always run to completion.
      UPDATE ${notificationRules} r SET enabled = false, disabled_reason = done.disable
      FROM done WHERE r.id = done.rule_id AND done.disable IS NOT NULL
      RETURNING r.id
    )
    SELECT id FROM done`);
  const written = new Set(rows<{ id: number | string }>(result).map((r) => num(r.id)));
  return outcomes.map((o) => written.has(o.id));
}

/**
 * Closes a digest: from now on it carries the rule's suppressed alerts not carried yet, and a
 * later suppression opens a new one. Idempotent (a retry finds it closed and keeps its set).
 * Call under the detection write lock, so no batch is suppressing into it at that moment.
 */
export async function collectDigest(db: DrizzleDb, digestId: number): Promise<void> {
  const d = notificationDeliveries;
  await db.execute(sql`
    WITH dg AS (
      UPDATE ${d} SET collected_at = now() WHERE id = ${digestId} AND kind = 'DIGEST' AND collected_at IS NULL
      RETURNING id, rule_id
    )
    UPDATE ${d} s SET digest_id = dg.id FROM dg
    WHERE s.rule_id = dg.rule_id AND s.status = 'SUPPRESSED' AND s.digest_id IS NULL`);
}

/** What a closed digest carries: how many alerts, and the oldest `limit` detections. */
export async function digestContents(
  db: DrizzleDb,
  digestId: number,
  limit: number,
): Promise<{ count: number; detections: Detection[] }> {
  const d = notificationDeliveries;
  const [counted] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(d)
    .where(eq(d.digestId, digestId));
  const detections = await db
    .select({ p: patternDetections })
    .from(d)
    .innerJoin(patternDetections, eq(patternDetections.id, d.detectionId))
    .where(eq(d.digestId, digestId))
    .orderBy(asc(patternDetections.id))
    .limit(limit);
  return { count: counted?.n ?? 0, detections: detections.map((x) => x.p) };
}

// ---- the relay's sweep

/**
 * Deliveries still PENDING `olderThanMs` after they were made, oldest first: those whose job a
 * process died before adding (or that wait behind a long queue; adding them again is a no-op).
 */
export async function findPending(
  db: DrizzleDb,
  olderThanMs: number,
  limit: number,
): Promise<{ id: number; kind: DeliveryKind; dueAt: Date | null }[]> {
  const d = notificationDeliveries;
  return db
    .select({ id: d.id, kind: d.kind, dueAt: d.dueAt })
    .from(d)
    .where(and(eq(d.status, 'PENDING'), sql`${d.createdAt} < now() - ${ms(olderThanMs)}`))
    .orderBy(asc(d.id))
    .limit(limit);
}
