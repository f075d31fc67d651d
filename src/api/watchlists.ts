/**
 * Watchlists over GraphQL (contract §6): create, update, delete, list. A user has at most
 * MAX_WATCHLISTS of at most MAX_SYMBOLS symbols each; a time window (since/until) has no place in
 * a saved filter. Another user's watchlist is NOT_FOUND, as if it did not exist.
 */
import type { Principal } from '../auth/authenticator.js';
import type { DrizzleDb } from '../db/client.js';
import {
  createWatchlist,
  deleteWatchlist,
  findWatchlist,
  listWatchlists,
  updateWatchlist,
  type WatchlistRow,
} from '../db/watchlists.js';
import type { PatternFilter } from '../domain/pattern-filter.js';
import { normalizeSymbol } from '../domain/symbols.js';
import type { WatchlistFilter } from '../schema/db.js';
import { badUserInput, notFound } from './errors.js';
import { validFilter } from './filter-input.js';
import type { AlertRouter } from './alert-router.js';

export const MAX_WATCHLISTS = 50;
export const MAX_SYMBOLS = 500;
const MAX_NAME = 100;

interface WatchlistContext {
  db: DrizzleDb;
  principal: Principal;
  alerts: AlertRouter;
}

interface WatchlistInput {
  name: string;
  filter: PatternFilter;
}

function watchlistId(value: unknown): number {
  const s = String(value);
  if (!/^\d{1,15}$/.test(s))
    throw badUserInput(`id must be a watchlist id (digits), got "${s.slice(0, 40)}"`, { argument: 'id' });
  return Number(s);
}

/** The input checked and normalised: symbols upper-cased and each listed once. */
function savedFilter(input: WatchlistInput): { name: string; filter: WatchlistFilter } {
  const name = input.name.trim();
  if (name.length === 0 || name.length > MAX_NAME || /\p{Cc}|\p{Cs}/u.test(name)) {
    throw badUserInput(`input.name must be 1 to ${MAX_NAME} printable characters`, { argument: 'input.name' });
  }
  const f = validFilter(input.filter, { argument: 'input.filter', maxValues: MAX_SYMBOLS })!;
  if (f.since != null || f.until != null) {
    throw badUserInput('input.filter.since and until have no place in a watchlist: it watches what comes, whenever it comes', {
      argument: 'input.filter',
    });
  }
  const unique = (list: readonly string[] | null | undefined) => (list?.length ? [...new Set(list)] : null);
  return {
    name,
    filter: {
      symbols: unique(f.symbols?.map(normalizeSymbol)),
      patterns: unique(f.patterns?.map((p) => p.trim())),
      tiers: unique(f.tiers) as WatchlistFilter['tiers'],
      minConfidence: f.minConfidence ?? null,
      minPriority: f.minPriority ?? null,
    },
  };
}

export const watchlistResolvers = {
  Watchlist: {
    id: (w: WatchlistRow) => String(w.id),
  },
  Query: {
    watchlists: (_: unknown, __: unknown, ctx: WatchlistContext) => listWatchlists(ctx.db, ctx.principal.userId),
    watchlist: async (_: unknown, args: { id: string }, ctx: WatchlistContext) => {
      const row = await findWatchlist(ctx.db, ctx.principal.userId, watchlistId(args.id));
      if (!row) throw notFound(`no watchlist ${args.id}`);
      return row;
    },
  },
  Mutation: {
    createWatchlist: async (_: unknown, args: { input: WatchlistInput }, ctx: WatchlistContext) => {
      const { name, filter } = savedFilter(args.input);
      const row = await createWatchlist(ctx.db, ctx.principal.userId, name, filter, MAX_WATCHLISTS);
      if (!row) {
        throw badUserInput(`you have ${MAX_WATCHLISTS} watchlists, the most a user may have: delete one first`, {
          argument: 'input',
        });
      }
      await ctx.alerts.watchlistsChanged(ctx.principal.userId);
      return row;
    },
    updateWatchlist: async (_: unknown, args: { id: string; input: WatchlistInput }, ctx: WatchlistContext) => {
      const id = watchlistId(args.id);
      const { name, filter } = savedFilter(args.input);
      const row = await updateWatchlist(ctx.db, ctx.principal.userId, id, name, filter);
      if (!row) throw notFound(`no watchlist ${args.id}`);
      await ctx.alerts.watchlistsChanged(ctx.principal.userId);
      return row;
    },
    deleteWatchlist: async (_: unknown, args: { id: string }, ctx: WatchlistContext) => {
      if (!(await deleteWatchlist(ctx.db, ctx.principal.userId, watchlistId(args.id)))) throw notFound(`no watchlist ${args.id}`);
      await ctx.alerts.watchlistsChanged(ctx.principal.userId);
      return true;
    },
  },
};
