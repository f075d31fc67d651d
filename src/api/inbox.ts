/**
 * The inbox over GraphQL (contract §6): `myAlerts` (replay of what is unacknowledged, then live),
 * `inbox` (unread count, paged alerts) and `acknowledgeAlerts`. The position is the user's, kept
 * in the database, so every device of theirs shares it and none has to remember anything.
 */
import type { Principal } from '../auth/authenticator.js';
import type { DrizzleDb } from '../db/client.js';
import { acknowledge, countUnacknowledged, findAlertsPage, findUnacknowledged, lastAcknowledgedId } from '../db/inbox.js';
import { listWatchlists, type WatchlistRow } from '../db/watchlists.js';
import { matchingWatchlists } from '../domain/watchlist-index.js';
import type { DetectionRow } from '../schema/db.js';
import type { Alert, AlertRouter } from './alert-router.js';
import { validFirst, validId } from './arguments.js';
import { endingLiveOnReturn, type EventStream, type SlowConsumerError } from './event-stream.js';
import type { PersonalFields } from './split-execution.js';

/** `unread` counts exactly up to here, then says this (contract §6). */
export const UNREAD_COUNT_CAP = 10_000;

interface InboxContext {
  db: DrizzleDb;
  principal: Principal;
  alerts: AlertRouter;
  onSlowConsumer: (error: SlowConsumerError) => void;
  /** INBOX_REPLAY_MAX: the most a `myAlerts` replay sends, the newest kept. */
  inboxReplayMax: number;
}

/**
 * An Alert's `watchlists` are its user's; the rest is the detection's, the same for every user a
 * live detection reaches. So a live alert's detection part is executed once per detection for all
 * of them, and its watchlists once per distinct match (the index hands a user who matched one
 * watchlist the same array every time). A replayed alert is executed in full: its row is its own.
 */
export const ALERT_PERSONAL_FIELDS: PersonalFields<Alert> = {
  type: 'Alert',
  fields: ['watchlists'],
  sharedBy: (alert) => (alert.replayed ? null : alert.detection),
  personalBy: (alert) => alert.watchlists,
};

/** What the `Inbox` fields resolve from: the position, and the watchlists read once for all fields. */
interface InboxParent {
  userId: number;
  acknowledgedId: number;
  watchlists: Promise<WatchlistRow[]>;
}

function inbox(ctx: InboxContext, acknowledgedId: number): InboxParent {
  const userId = ctx.principal.userId;
  const watchlists = listWatchlists(ctx.db, userId);
  // Read only when a field needs it; a failure surfaces there, not as an unhandled rejection.
  watchlists.catch(() => undefined);
  return { userId, acknowledgedId, watchlists };
}

const alertOf = (detection: DetectionRow, watchlists: readonly WatchlistRow[], replayed: boolean): Alert => ({
  detection,
  watchlists: matchingWatchlists(watchlists, detection),
  replayed,
});

/**
 * Every matching detection above the user's position (the newest `cap`, oldest first), then the
 * live ones. The live stream is open and the watchlists filed before the replay is read, and
 * detections are published in id order after they commit, so a live alert at or below the last
 * id yielded is one the replay already gave: dropped, with no gap and no duplicate at the seam.
 */
async function* replayThenLive(ctx: InboxContext, live: EventStream<Alert>, watchlists: WatchlistRow[]): AsyncGenerator<Alert> {
  try {
    const acknowledgedId = await lastAcknowledgedId(ctx.db, ctx.principal.userId);
    let last = acknowledgedId;
    for (const row of await findUnacknowledged(ctx.db, watchlists, acknowledgedId, ctx.inboxReplayMax)) {
      last = row.id;
      yield alertOf(row, watchlists, true);
    }
    for await (const alert of live) {
      if (alert.detection.id <= last) continue;
      last = alert.detection.id;
      yield alert;
    }
  } finally {
    await live.return?.();
  }
}

export const inboxResolvers = {
  Inbox: {
    lastAcknowledgedId: (p: InboxParent) => (p.acknowledgedId > 0 ? String(p.acknowledgedId) : null),
    unread: async (p: InboxParent, _: unknown, ctx: InboxContext) =>
      countUnacknowledged(ctx.db, await p.watchlists, p.acknowledgedId, UNREAD_COUNT_CAP),
    alerts: async (p: InboxParent, args: { first: number; after?: string | null }, ctx: InboxContext) => {
      const first = validFirst(args.first);
      const before = args.after != null ? validId(args.after, 'after') : null;
      const watchlists = await p.watchlists;
      const { rows, hasNextPage } = await findAlertsPage(ctx.db, watchlists, first, before);
      const nodes = rows.map((row) => alertOf(row, watchlists, true));
      const last = rows.at(-1);
      return {
        edges: nodes.map((node) => ({ cursor: String(node.detection.id), node })),
        nodes,
        pageInfo: { hasNextPage, endCursor: last ? String(last.id) : null },
      };
    },
  },
  Query: {
    inbox: async (_: unknown, __: unknown, ctx: InboxContext) =>
      inbox(ctx, await lastAcknowledgedId(ctx.db, ctx.principal.userId)),
  },
  Mutation: {
    acknowledgeAlerts: async (_: unknown, args: { upTo: string }, ctx: InboxContext) =>
      inbox(ctx, await acknowledge(ctx.db, ctx.principal.userId, validId(args.upTo, 'upTo'))),
  },
  Subscription: {
    myAlerts: {
      subscribe: async (_: unknown, __: unknown, ctx: InboxContext) => {
        const { live, watchlists } = await ctx.alerts.open(ctx.principal.userId, ctx.onSlowConsumer);
        return endingLiveOnReturn(live, replayThenLive(ctx, live, watchlists));
      },
      resolve: (alert: Alert) => alert,
    },
  },
};
