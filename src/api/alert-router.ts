/**
 * The live part of `myAlerts` (contract §6) on one API process: every detection is matched once
 * against the watchlists of the users connected here, through a `WatchlistIndex`, and handed to
 * each of the matched users' open subscriptions. A user's watchlists are read when their first
 * subscription opens and again whenever they change — here (the mutation waits for it) or on
 * another process (a `watchlistsChanged` message through Redis) — and for everyone after a
 * reconnect to Redis, which may have lost such a message.
 */
import type { DrizzleDb } from '../db/client.js';
import { listWatchlists, listWatchlistsOfUsers, type WatchlistRow } from '../db/watchlists.js';
import { WatchlistIndex } from '../domain/watchlist-index.js';
import type { Logger } from '../lib/logger.js';
import type { AlertPubSub } from '../pubsub/pubsub.js';
import type { Detection } from '../schema/topics.js';
import { createEventStream, type EventStream, type SlowConsumerError } from './event-stream.js';
import type { LiveHub } from './live-hub.js';

/** What `myAlerts` yields: a detection and the user's watchlists it matched. */
export interface Alert {
  detection: Detection;
  /** Read-only: live alerts of one watchlist share the index's array. */
  watchlists: readonly WatchlistRow[];
  replayed: boolean;
}

export interface AlertRouter {
  /**
   * Opens the live stream of one subscription of `userId`. Resolves once the user's watchlists
   * are read and filed, with them: every detection published from then on reaches the stream if
   * it matches, so a replay read afterwards leaves no gap.
   */
  open(
    userId: number,
    onOverflow: (error: SlowConsumerError) => void,
  ): Promise<{ live: EventStream<Alert>; watchlists: WatchlistRow[] }>;
  /**
   * A user's watchlists changed: re-read here before resolving, and announced to the other API
   * processes. Their open subscriptions match with the new watchlists from then on.
   */
  watchlistsChanged(userId: number): Promise<void>;
  /** Open `myAlerts` subscriptions on this process. */
  subscriberCount(): number;
  close(): void;
}

export interface AlertRouterOptions {
  db: DrizzleDb;
  hub: LiveHub;
  pubsub: AlertPubSub;
  /** Per-subscription bound on queued, undelivered alerts (as for the other subscriptions). */
  queueLimit: number;
  logger: Logger;
}

interface Connected {
  streams: Set<EventStream<Alert>>;
  watchlists: WatchlistRow[];
  /** Reads of this user's watchlists started and applied: a slow old read never overwrites a newer one. */
  started: number;
  applied: number;
}

/** Users whose watchlists one query reads after a reconnect. */
const RELOAD_BATCH = 1_000;

export function createAlertRouter(o: AlertRouterOptions): AlertRouter {
  const users = new Map<number, Connected>();
  // Filed by the user's own record, so a match leads straight to their streams.
  const index = new WatchlistIndex<Connected, WatchlistRow>();

  const stopAlerts = o.hub.listen('patternAlert', (detection) => {
    for (const [user, watchlists] of index.match(detection)) {
      // One object for all of this user's subscriptions, so one execution serves them
      // (shared-execution.ts caches by event object); it never reaches another user.
      const alert: Alert = { detection, watchlists, replayed: false };
      for (const stream of user.streams) stream.push(alert);
    }
  });
  const stopChanges = o.hub.listen('watchlistsChanged', ({ userId }) => {
    if (!users.has(userId)) return;
    reload(userId).catch((err: Error) =>
      o.logger.error(`[api] re-reading the watchlists of user ${userId} failed: ${err.message}`),
    );
  });
  // A `watchlistsChanged` published while this process's subscriber connection was down never
  // arrives: once it is back, every connected user's watchlists are read again.
  const stopReconnects = o.pubsub.onReconnect(() => {
    o.logger.warn(`[api] Redis pub/sub reconnected: re-reading the watchlists of ${users.size} connected users`);
    reloadEveryone().catch((err: Error) =>
      o.logger.error(`[api] re-reading the watchlists of connected users failed: ${err.message}`),
    );
  });

  /** Every connected user's watchlists, a thousand users to a query (not a query each). */
  async function reloadEveryone(): Promise<void> {
    const reads = [...users].map(([userId, user]) => ({ userId, user, read: ++user.started }));
    for (let i = 0; i < reads.length; i += RELOAD_BATCH) {
      const batch = reads.slice(i, i + RELOAD_BATCH);
      const byUser = await listWatchlistsOfUsers(
        o.db,
        batch.map((r) => r.userId),
      );
      for (const { userId, user, read } of batch) apply(userId, user, read, byUser.get(userId) ?? []);
    }
  }

  /** Files `rows` as `user`'s watchlists, unless they left meanwhile or a newer read was applied. */
  function apply(userId: number, user: Connected, read: number, rows: WatchlistRow[]): void {
    if (users.get(userId) !== user || read < user.applied) return;
    user.applied = read;
    user.watchlists = rows;
    index.set(user, rows);
  }

  async function reload(userId: number): Promise<void> {
    const user = users.get(userId);
    if (!user) return;
    const read = ++user.started;
    apply(userId, user, read, await listWatchlists(o.db, userId));
  }

  return {
    async open(userId, onOverflow) {
      let user = users.get(userId);
      if (!user) users.set(userId, (user = { streams: new Set(), watchlists: [], started: 0, applied: 0 }));
      const owner = user;
      const live = createEventStream<Alert>({
        limit: o.queueLimit,
        onOverflow,
        onClose: () => {
          owner.streams.delete(live);
          if (owner.streams.size === 0 && users.get(userId) === owner) {
            users.delete(userId);
            index.delete(owner);
          }
        },
      });
      owner.streams.add(live);
      try {
        await reload(userId);
      } catch (err) {
        await live.return?.();
        throw err;
      }
      return { live, watchlists: owner.watchlists };
    },
    async watchlistsChanged(userId) {
      await reload(userId);
      await o.pubsub.publish('watchlistsChanged', { userId });
    },
    subscriberCount: () => [...users.values()].reduce((n, u) => n + u.streams.size, 0),
    close() {
      stopAlerts();
      stopChanges();
      stopReconnects();
      for (const user of users.values()) for (const stream of user.streams) stream.end();
    },
  };
}
