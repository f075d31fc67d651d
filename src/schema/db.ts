/**
 * Every stored relation (contract §4), in one place. drizzle-kit generates the
 * migrations under `drizzle/` from this file: change it, then `npm run db:generate`.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  pgView,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { PRIORITIES, TIERS, type Json, type JsonObject, type Priority, type Tier } from './events.js';

const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => (Buffer.isBuffer(value) ? value : Buffer.from(value)),
});

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });

export const tierEnum = pgEnum('pattern_tier', TIERS);
export const priorityEnum = pgEnum('pattern_priority', PRIORITIES);

export const patternDetections = pgTable(
  'pattern_detections',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    eventId: text('event_id').notNull(),
    symbol: text('symbol').notNull(),
    pattern: text('pattern').notNull(),
    confidence: doublePrecision('confidence').notNull(),
    tier: tierEnum('tier').notNull(),
    priority: priorityEnum('priority').notNull(),
    timeframe: text('timeframe'),
    category: text('category'),
    price: doublePrecision('price'),
    detectedAt: at('detected_at').notNull(),
    receivedAt: at('received_at').notNull(),
    expiresAt: at('expires_at'),
    storedAt: at('stored_at').notNull().defaultNow(),
    source: text('source').notNull(),
    metadata: jsonb('metadata').$type<JsonObject>(),
  },
  (t) => [
    uniqueIndex('pattern_detections_event_id_key').on(t.eventId),
    // Connections page newest-first by id, optionally within one tier or one symbol.
    index('pattern_detections_tier_id_idx').on(t.tier, t.id),
    index('pattern_detections_symbol_id_idx').on(t.symbol, t.id),
    // Pattern filters compare case-insensitively.
    index('pattern_detections_pattern_lower_id_idx').on(sql`lower(${t.pattern})`, t.id),
    // REST: one tier, best confidence first, newest next, within a window of days. Read in
    // index order and stopped at the limit, instead of sorting the whole window (EXPLAIN
    // ANALYZE at 1M rows: 86.7 ms → 1.2 ms without a symbol, 14.9 ms → 0.1 ms with one).
    index('pattern_detections_tier_confidence_id_idx').on(t.tier, t.confidence.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('pattern_detections_tier_symbol_confidence_id_idx').on(
      t.tier,
      t.symbol,
      t.confidence.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
  ],
);

export type DetectionRow = typeof patternDetections.$inferSelect;

/**
 * One row: the highest detection id published to subscribers. The writer, under the shared
 * write lock, publishes every stored row above it in id order and then moves it, so rows a
 * crashed writer committed but never published go out next, before anything newer.
 */
export const publicationCursor = pgTable('publication_cursor', {
  id: integer('id').primaryKey().default(1),
  lastPublishedId: bigint('last_published_id', { mode: 'number' }).notNull(),
});

export const patternDefinitions = pgTable('pattern_definitions', {
  name: text('name').primaryKey(),
  category: text('category'),
  description: text('description'),
  enabled: boolean('enabled').notNull().default(true),
  timeframes: text('timeframes')
    .array()
    .notNull()
    .default(sql`'{}'::text[]`),
  detections: integer('detections').notNull().default(0),
  firstSeenAt: at('first_seen_at'),
  lastSeenAt: at('last_seen_at'),
});

/** One row per backtest job: the latest progress and, once it arrives, the result. */
export const backtestJobs = pgTable('backtest_jobs', {
  jobId: text('job_id').primaryKey(),
  progress: doublePrecision('progress'),
  progressStatus: text('progress_status'),
  currentSymbol: text('current_symbol'),
  processedSymbols: integer('processed_symbols'),
  estimatedCompletion: at('estimated_completion'),
  progressAt: at('progress_at'),
  resultStatus: text('result_status'),
  results: jsonb('results').$type<JsonObject>(),
  processingTimeSeconds: doublePrecision('processing_time_seconds'),
  resultAt: at('result_at'),
  updatedAt: at('updated_at').notNull().defaultNow(),
});

export const publisherHealth = pgTable(
  'publisher_health',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    eventId: text('event_id').notNull(),
    status: text('status').notNull(),
    source: text('source'),
    metrics: jsonb('metrics').$type<JsonObject>(),
    at: at('at').notNull(),
    receivedAt: at('received_at').notNull(),
  },
  (t) => [uniqueIndex('publisher_health_event_id_key').on(t.eventId)],
);

export const rejectedEvents = pgTable(
  'rejected_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    eventId: text('event_id').notNull(),
    channel: text('channel').notNull(),
    reason: text('reason').notNull(),
    /** Raw bytes as received (not necessarily UTF-8), truncated to 64 KiB. */
    payload: bytea('payload').notNull(),
    byteLength: integer('byte_length').notNull(),
    receivedAt: at('received_at').notNull(),
  },
  (t) => [
    uniqueIndex('rejected_events_event_id_key').on(t.eventId),
    // Retention by age deletes from the oldest end of this index (by row count: the primary key).
    index('rejected_events_received_at_idx').on(t.receivedAt),
  ],
);

/**
 * One row: how many messages were ever rejected (rows inserted into `rejected_events`). Bumped
 * in the insert's own statement, by the rows it inserted, so pruning old rejects leaves it alone.
 */
export const rejectedTotal = pgTable('rejected_total', {
  id: integer('id').primaryKey().default(1),
  total: bigint('total', { mode: 'number' }).notNull(),
});

/** Views with the column names of the system Patternwire replaces. */
function legacyTierView(name: string, tier: (typeof TIERS)[number]) {
  return pgView(name).as((qb) =>
    qb
      .select({
        id: patternDetections.id,
        eventId: sql<string>`${patternDetections.eventId}`.as('event_id'),
        symbol: patternDetections.symbol,
        patternType: sql<string>`${patternDetections.pattern}`.as('pattern_type'),
        confidence: patternDetections.confidence,
        tier: sql<string>`lower(${patternDetections.tier}::text)`.as('tier'),
        priority: patternDetections.priority,
        timeframe: patternDetections.timeframe,
        category: patternDetections.category,
        price: patternDetections.price,
        detectionTimestamp: sql<Date>`${patternDetections.detectedAt}`.as('detection_timestamp'),
        receivedAt: patternDetections.receivedAt,
        expiresAt: patternDetections.expiresAt,
        source: patternDetections.source,
        patternData: sql<Json>`${patternDetections.metadata}`.as('pattern_data'),
      })
      .from(patternDetections)
      .where(sql`${patternDetections.tier} = ${sql.raw(`'${tier}'`)}`),
  );
}

export const dailyPatterns = legacyTierView('daily_patterns', 'DAILY');
export const intradayPatterns = legacyTierView('intraday_patterns', 'INTRADAY');

// ---- identity (contract §5)

export const ROLES = ['READER', 'ADMIN'] as const;
export type Role = (typeof ROLES)[number];
export const roleEnum = pgEnum('user_role', ROLES);

export const users = pgTable(
  'users',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    name: text('name').notNull(),
    role: roleEnum('role').notNull().default('READER'),
    createdAt: at('created_at').notNull().defaultNow(),
    /**
     * The inbox position (contract §6): the highest detection id this user acknowledged, shared
     * by all their devices. Only moves forward; set to the newest detection id when the user is
     * created (db/identity.ts), so a new user's inbox starts empty rather than with all history.
     */
    lastAcknowledgedId: bigint('last_acknowledged_id', { mode: 'number' }).notNull().default(0),
  },
  (t) => [uniqueIndex('users_name_key').on(t.name)],
);

/** API tokens: only the SHA-256 of the secret is kept. A user's deletion takes its tokens along. */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    tokenHash: bytea('token_hash').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
    expiresAt: at('expires_at'),
    lastUsedAt: at('last_used_at'),
    revokedAt: at('revoked_at'),
  },
  (t) => [uniqueIndex('api_tokens_token_hash_key').on(t.tokenHash), index('api_tokens_user_id_idx').on(t.userId)],
);

// ---- watchlists (contract §6)

/** A watchlist's saved filter: a PatternFilter without a time window. */
export interface WatchlistFilter {
  symbols: string[] | null;
  patterns: string[] | null;
  tiers: Tier[] | null;
  minConfidence: number | null;
  minPriority: Priority | null;
}

export const watchlists = pgTable(
  'watchlists',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    filter: jsonb('filter').$type<WatchlistFilter>().notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (t) => [index('watchlists_user_id_id_idx').on(t.userId, t.id)],
);

// ---- notifications (contract §7)

export const NOTIFICATION_CHANNELS = ['WEBHOOK', 'EMAIL'] as const;
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];
export const DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'RETRYING', 'FAILED', 'SUPPRESSED'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
/** ALERT: one matching detection; TEST: testNotificationRule; DIGEST: the matches a rule's hourly cap suppressed. */
export const DELIVERY_KINDS = ['ALERT', 'TEST', 'DIGEST'] as const;
export type DeliveryKind = (typeof DELIVERY_KINDS)[number];

export const notificationChannelEnum = pgEnum('notification_channel', NOTIFICATION_CHANNELS);
export const deliveryStatusEnum = pgEnum('delivery_status', DELIVERY_STATUSES);
export const deliveryKindEnum = pgEnum('delivery_kind', DELIVERY_KINDS);

/** A user's rule: detections matching one of their watchlists, at or above a priority, go to a webhook or an address. */
export const notificationRules = pgTable(
  'notification_rules',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    watchlistId: bigint('watchlist_id', { mode: 'number' })
      .notNull()
      .references(() => watchlists.id, { onDelete: 'cascade' }),
    channel: notificationChannelEnum('channel').notNull(),
    target: text('target').notNull(),
    minPriority: priorityEnum('min_priority').notNull(),
    maxPerHour: integer('max_per_hour').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** Why it was disabled when the system did it (a receiver answered 410 Gone). */
    disabledReason: text('disabled_reason'),
    /** WEBHOOK: the signing secret, sealed (domain/webhook-secret.ts); null for EMAIL. */
    secret: text('secret'),
    /** The newest detection id when the rule was created: it applies to detections above it. */
    afterDetectionId: bigint('after_detection_id', { mode: 'number' }).notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('notification_rules_user_id_id_idx').on(t.userId, t.id),
    index('notification_rules_watchlist_id_idx').on(t.watchlistId),
  ],
);

/**
 * One row per message a rule makes: an ALERT per (rule, matching detection) — the unique key
 * makes its creation idempotent — a TEST per testNotificationRule, a DIGEST per capped hour.
 * Its id is the webhook's `webhook-id`, and the BullMQ job that sends it is `delivery-<id>`.
 */
export const notificationDeliveries = pgTable(
  'notification_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    ruleId: bigint('rule_id', { mode: 'number' })
      .notNull()
      .references(() => notificationRules.id, { onDelete: 'cascade' }),
    /** The rule's user, copied so a user's deliveries list newest first from one index. */
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    kind: deliveryKindEnum('kind').notNull(),
    /** ALERT: the detection; null for TEST and DIGEST. */
    detectionId: bigint('detection_id', { mode: 'number' }),
    status: deliveryStatusEnum('status').notNull().default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    createdAt: at('created_at').notNull().defaultNow(),
    deliveredAt: at('delivered_at'),
    /** DIGEST: when it goes out (the end of the hour that filled the cap). */
    dueAt: at('due_at'),
    /** DIGEST: when it took the suppressed deliveries it carries (then it is closed: a new one opens). */
    collectedAt: at('collected_at'),
    /** SUPPRESSED: the digest that carried it. */
    digestId: bigint('digest_id', { mode: 'number' }),
  },
  (t) => [
    uniqueIndex('notification_deliveries_rule_detection_key').on(t.ruleId, t.detectionId),
    index('notification_deliveries_rule_id_id_idx').on(t.ruleId, t.id),
    index('notification_deliveries_user_id_id_idx').on(t.userId, t.id),
    // The hourly cap counts a rule's recent alerts that were not suppressed.
    index('notification_deliveries_cap_idx')
      .on(t.ruleId, t.createdAt)
      .where(sql`${t.kind} = 'ALERT' AND ${t.status} <> 'SUPPRESSED'`),
    // At most one open digest per rule: suppressed matches gather in it until it goes out.
    uniqueIndex('notification_deliveries_open_digest_key')
      .on(t.ruleId)
      .where(sql`${t.kind} = 'DIGEST' AND ${t.collectedAt} IS NULL`),
    index('notification_deliveries_uncollected_idx')
      .on(t.ruleId)
      .where(sql`${t.status} = 'SUPPRESSED' AND ${t.digestId} IS NULL`),
    // The relay's sweep: deliveries whose job may never have been added.
    index('notification_deliveries_pending_idx')
      .on(t.id)
      .where(sql`${t.status} = 'PENDING'`),
  ],
);

/**
 * One row: bumped (by triggers, see the notifications migration) whenever a rule or a
 * watchlist changes. The detection writer reads it with every batch and reloads its cached
 * rules only when it moved, so no rule costs nothing and a new rule applies at once.
 */
export const notificationRulesVersion = pgTable('notification_rules_version', {
  id: integer('id').primaryKey().default(1),
  version: bigint('version', { mode: 'number' }).notNull(),
});
