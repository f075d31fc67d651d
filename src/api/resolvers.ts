import type { DrizzleDb } from '../db/client.js';
import { findBacktestJob } from '../db/backtests.js';
import {
  countDetectionsAfter,
  findDetectionById,
  findDetectionsAfter,
  findDetectionsPage,
  listPatternDefinitions,
} from '../db/detection-queries.js';
import { latestPublisherHealth } from '../db/publisher-health.js';
import { listRejections } from '../db/rejections.js';
import type { Tier } from '../schema/events.js';
import { compileFilter, type PatternFilter } from '../domain/pattern-filter.js';
import type { Detection, PublisherHealth } from '../schema/topics.js';
import type { Principal } from '../auth/authenticator.js';
import type { Queues } from '../queues/queues.js';
import type { RetryingJobs } from '../queues/retrying.js';
import { DEFAULT_LIMITS, LIMIT_VARIABLES } from '../config/env.js';
import { validFirst, validId } from './arguments.js';
import { badUserInput } from './errors.js';
import { validFilter } from './filter-input.js';
import { identityResolvers, requireAdmin } from './identity.js';
import { watchlistResolvers } from './watchlists.js';
import { inboxResolvers } from './inbox.js';
import type { AlertRouter } from './alert-router.js';
import { endingLiveOnReturn, type EventStream, type SlowConsumerError } from './event-stream.js';
import { notificationResolvers, type NotifyContext } from './notifications.js';
import { detectionRoutes, type LiveHub } from './live-hub.js';
import { readPipelineHealth } from './pipeline-health.js';
import { DateTime, JSONScalar } from './scalars.js';

export interface ApiContext {
  db: DrizzleDb;
  queues: Queues;
  hub: LiveHub;
  /** The live part of `myAlerts` on this process (./alert-router.ts). */
  alerts: AlertRouter;
  /** INBOX_REPLAY_MAX: the most a `myAlerts` replay sends. */
  inboxReplayMax: number;
  /** Who is asking (contract §5). */
  principal: Principal;
  retrying: RetryingJobs;
  retryAlertMs: number;
  /** Ends the client's connection when it cannot keep up (a WebSocket is closed with 1013). */
  onSlowConsumer: (error: SlowConsumerError) => void;
  /** Most detections `patternAlert(after:)` replays (REPLAY_MAX_DETECTIONS; set by `useLimits`). */
  replayLimit?: number;
  /** Notification rules (contract §7): the write lock, the queue and the settings. */
  notify: NotifyContext;
}

const REPLAY_PAGE = 500;

interface PageArgs {
  filter?: PatternFilter | null;
  first: number;
  after?: string | null;
}

/** One page of a `PatternConnection`, newest first; `tier` fixes the tier (`dailyPatterns`, …). */
async function detectionPage(db: DrizzleDb, args: PageArgs, tier?: Tier) {
  const first = validFirst(args.first);
  const before = args.after != null ? validId(args.after, 'after') : null;
  let filter = validFilter(args.filter);
  if (tier) filter = { ...filter, tiers: filter?.tiers?.length ? filter.tiers.filter((t) => t === tier) : [tier] };
  // A tier filter that excludes the fixed tier matches nothing.
  if (tier && filter?.tiers?.length === 0) return { edges: [], nodes: [], pageInfo: { hasNextPage: false, endCursor: null } };
  const { rows, hasNextPage } = await findDetectionsPage(db, { filter, first, before });
  const last = rows.at(-1);
  return {
    edges: rows.map((node) => ({ cursor: String(node.id), node })),
    nodes: rows,
    pageInfo: { hasNextPage, endCursor: last ? String(last.id) : null },
  };
}

/**
 * Stored detections after `after` (oldest first, in pages), then live ones, with no gap and
 * no duplicate. The live stream is opened before history is read, so nothing committed
 * meanwhile is missed; and since detections become visible and are published in id order
 * (the writer's lock and publication cursor), a live message at or below the last id yielded
 * is one this subscriber already has — from replay, or published a second time after a crash.
 */
function patternAlerts(ctx: ApiContext, filter: PatternFilter | null, after: number | null): AsyncIterableIterator<Detection> {
  const compiled = compileFilter(filter);
  const live = ctx.hub.stream('patternAlert', (m) => compiled.matches(m), ctx.onSlowConsumer, detectionRoutes(compiled));
  return endingLiveOnReturn(live, replayThenLive(ctx, live, filter, after));
}

async function* replayThenLive(
  ctx: ApiContext,
  live: EventStream<Detection>,
  filter: PatternFilter | null,
  after: number | null,
): AsyncGenerator<Detection> {
  try {
    let last = after ?? 0;
    if (after !== null) {
      for (;;) {
        const page = await findDetectionsAfter(ctx.db, filter, last, REPLAY_PAGE);
        for (const row of page) {
          last = row.id;
          yield row;
        }
        if (page.length < REPLAY_PAGE) break;
      }
    }
    for await (const message of live) {
      if (message.id <= last) continue;
      last = message.id;
      yield message;
    }
  } finally {
    await live.return?.();
  }
}

/**
 * Contract §5: a replay longer than the limit is refused before anything is opened; the
 * client pages through history with `patterns` and subscribes from where that ended. Counted
 * up to one past the limit, so the check reads at most limit + 1 index entries.
 */
async function checkReplayLength(ctx: ApiContext, filter: PatternFilter | null, after: number): Promise<void> {
  const limit = ctx.replayLimit ?? DEFAULT_LIMITS.replay;
  const count = await countOnce(ctx, filter, after, limit + 1);
  if (count > limit) {
    throw badUserInput(
      `patternAlert(after: "${after}") would replay more than ${limit} detections, the replay limit ` +
        `(${LIMIT_VARIABLES.replay}); page through them with the patterns query first (newest first, ` +
        `down to id ${after}), then subscribe with after set to the newest id it returned`,
      { argument: 'after', limit: 'replay', max: limit, setting: LIMIT_VARIABLES.replay },
    );
  }
}

/**
 * Identical counts asked at the same moment share one query: when an API process restarts, its
 * clients come back together, most with the same `after` and filter, and a thousand identical
 * counts would queue on the database pool in front of everything else.
 */
const countsInFlight = new Map<string, Promise<number>>();
function countOnce(ctx: ApiContext, filter: PatternFilter | null, after: number, cap: number): Promise<number> {
  const key = JSON.stringify([filter, after, cap]);
  let count = countsInFlight.get(key);
  if (!count) {
    count = countDetectionsAfter(ctx.db, filter, after, cap).finally(() => countsInFlight.delete(key));
    countsInFlight.set(key, count);
  }
  return count;
}

function systemHealthStream(ctx: ApiContext) {
  const live = ctx.hub.stream('systemHealth', () => true, ctx.onSlowConsumer);
  return endingLiveOnReturn(live, currentThenLiveHealth(ctx, live));
}

async function* currentThenLiveHealth(ctx: ApiContext, live: EventStream<PublisherHealth>) {
  try {
    yield { systemHealth: { publisher: await latestPublisherHealth(ctx.db) } };
    for await (const publisher of live) yield { systemHealth: { publisher } };
  } finally {
    await live.return?.();
  }
}

const byJobId = (jobId: string | null | undefined) => (m: { jobId: string }) => jobId == null || m.jobId === jobId;
/** The hub's routes for one job's messages: a subscriber of one job is never offered another's. */
const jobRoutes = (jobId: string | null | undefined) => (jobId == null ? null : { by: 'jobId' as const, values: [jobId] });

export const resolvers = {
  DateTime,
  JSON: JSONScalar,
  PatternDetection: {
    id: (d: Detection) => String(d.id),
  },
  RejectedEvent: {
    id: (r: { id: number }) => String(r.id),
    payload: (r: { payload: Buffer }) => r.payload.toString('utf8'),
  },
  SystemHealth: {
    pipeline: (_: unknown, __: unknown, ctx: ApiContext) =>
      readPipelineHealth({ ...ctx, subscribers: () => ctx.hub.subscriberCount() + ctx.alerts.subscriberCount() }),
  },
  Query: {
    patterns: (_: unknown, args: PageArgs, ctx: ApiContext) => detectionPage(ctx.db, args),
    dailyPatterns: (_: unknown, args: PageArgs, ctx: ApiContext) => detectionPage(ctx.db, args, 'DAILY'),
    intradayPatterns: (_: unknown, args: PageArgs, ctx: ApiContext) => detectionPage(ctx.db, args, 'INTRADAY'),
    comboPatterns: (_: unknown, args: PageArgs, ctx: ApiContext) => detectionPage(ctx.db, args, 'COMBO'),
    pattern: (_: unknown, args: { id: string }, ctx: ApiContext) => findDetectionById(ctx.db, validId(args.id, 'id')),
    patternDefinitions: (_: unknown, __: unknown, ctx: ApiContext) => listPatternDefinitions(ctx.db),
    backtestJob: (_: unknown, args: { jobId: string }, ctx: ApiContext) => findBacktestJob(ctx.db, args.jobId),
    systemHealth: async (_: unknown, __: unknown, ctx: ApiContext) => ({ publisher: await latestPublisherHealth(ctx.db) }),
    rejectedEvents: (_: unknown, args: { first: number }, ctx: ApiContext) => {
      requireAdmin(ctx, 'rejectedEvents');
      return listRejections(ctx.db, validFirst(args.first));
    },
    ...identityResolvers.Query,
    ...watchlistResolvers.Query,
    ...inboxResolvers.Query,
    ...notificationResolvers.Query,
  },
  Mutation: {
    ...identityResolvers.Mutation,
    ...watchlistResolvers.Mutation,
    ...inboxResolvers.Mutation,
    ...notificationResolvers.Mutation,
  },
  Inbox: inboxResolvers.Inbox,
  Watchlist: watchlistResolvers.Watchlist,
  NotificationRule: notificationResolvers.NotificationRule,
  NotificationDelivery: notificationResolvers.NotificationDelivery,
  User: identityResolvers.User,
  ApiToken: identityResolvers.ApiToken,
  Subscription: {
    patternAlert: {
      subscribe: async (_: unknown, args: { filter?: PatternFilter | null; after?: string | null }, ctx: ApiContext) => {
        const filter = validFilter(args.filter);
        const after = args.after != null ? validId(args.after, 'after') : null;
        if (after !== null) await checkReplayLength(ctx, filter, after);
        return patternAlerts(ctx, filter, after);
      },
      resolve: (payload: Detection) => payload,
    },
    backtestProgress: {
      subscribe: (_: unknown, args: { jobId?: string | null }, ctx: ApiContext) =>
        ctx.hub.stream('backtestProgress', byJobId(args.jobId), ctx.onSlowConsumer, jobRoutes(args.jobId)),
      resolve: (payload: unknown) => payload,
    },
    backtestResult: {
      subscribe: (_: unknown, args: { jobId?: string | null }, ctx: ApiContext) =>
        ctx.hub.stream('backtestResult', byJobId(args.jobId), ctx.onSlowConsumer, jobRoutes(args.jobId)),
      resolve: (payload: unknown) => payload,
    },
    systemHealth: {
      subscribe: (_: unknown, __: unknown, ctx: ApiContext) => systemHealthStream(ctx),
    },
    ...inboxResolvers.Subscription,
  },
};
