/**
 * Which watchlists a detection matches (contract §6), for one user (`matchingWatchlists`) or
 * for every user connected to a process at once (`WatchlistIndex`).
 */
import type { Tier } from '../schema/events.js';
import type { WatchlistFilter } from '../schema/db.js';
import { compileFilter, type CompiledFilter, type FilterableDetection } from './pattern-filter.js';

/** What matching needs of a watchlist; callers keep their own row type. */
export interface SavedWatchlist {
  id: number;
  filter: WatchlistFilter;
}

/** The watchlists of `list` that `d` matches, in the list's order. */
export function matchingWatchlists<W extends SavedWatchlist>(list: readonly W[], d: FilterableDetection): W[] {
  return list.filter((w) => compileFilter(w.filter).matches(d));
}

interface Entry<Owner, W> {
  owner: Owner;
  watchlist: W;
  /** Position in the owner's list, to give matches back in that order. */
  rank: number;
  matches(d: FilterableDetection): boolean;
}

/**
 * The watchlists of many owners, indexed so that a detection is checked only against those it
 * could match: a watchlist with symbols is filed under each symbol, one without symbols but with
 * tiers under each tier, and only one with neither is checked against every detection. So a user
 * with 50 watchlists of 500 symbols costs the others one map lookup, not 25,000 comparisons.
 */
export class WatchlistIndex<Owner, W extends SavedWatchlist> {
  private readonly bySymbol = new Map<string, Set<Entry<Owner, W>>>();
  private readonly byTier = new Map<Tier, Set<Entry<Owner, W>>>();
  private readonly unindexed = new Set<Entry<Owner, W>>();
  private readonly byOwner = new Map<Owner, Entry<Owner, W>[]>();

  /** `compile` turns a filter into its predicate; tests pass one that counts the calls. */
  constructor(private readonly compile: (f: WatchlistFilter) => CompiledFilter = compileFilter) {}

  /** Replaces everything filed for `owner` with `watchlists`. */
  set(owner: Owner, watchlists: readonly W[]): void {
    this.delete(owner);
    const entries = watchlists.map((watchlist, rank) => {
      const compiled = this.compile(watchlist.filter);
      const entry: Entry<Owner, W> = { owner, watchlist, rank, matches: (d) => compiled.matches(d) };
      const { symbols, tiers } = watchlist.filter;
      if (symbols?.length) for (const s of symbols) file(this.bySymbol, s, entry);
      else if (tiers?.length) for (const t of tiers) file(this.byTier, t, entry);
      else this.unindexed.add(entry);
      return entry;
    });
    if (entries.length) this.byOwner.set(owner, entries);
  }

  delete(owner: Owner): void {
    for (const entry of this.byOwner.get(owner) ?? []) {
      const { symbols, tiers } = entry.watchlist.filter;
      if (symbols?.length) for (const s of symbols) unfile(this.bySymbol, s, entry);
      else if (tiers?.length) for (const t of tiers) unfile(this.byTier, t, entry);
      else this.unindexed.delete(entry);
    }
    this.byOwner.delete(owner);
  }

  /** Each owner with a watchlist `d` matches, with those watchlists in the order they were set. */
  match(d: FilterableDetection): Map<Owner, W[]> {
    const found = new Map<Owner, Entry<Owner, W>[]>();
    const visit = (entries: Set<Entry<Owner, W>> | undefined) => {
      if (!entries) return;
      for (const e of entries) {
        if (!e.matches(d)) continue;
        const list = found.get(e.owner);
        if (list) list.push(e);
        else found.set(e.owner, [e]);
      }
    };
    visit(this.bySymbol.get(d.symbol));
    visit(this.byTier.get(d.tier));
    visit(this.unindexed);
    const out = new Map<Owner, W[]>();
    for (const [owner, list] of found) {
      // Entries came from up to three sets: put them back in the owner's order.
      if (list.length > 1) list.sort((a, b) => a.rank - b.rank);
      out.set(
        owner,
        list.map((e) => e.watchlist),
      );
    }
    return out;
  }

  /** Owners with at least one watchlist filed. */
  get owners(): number {
    return this.byOwner.size;
  }
}

function file<K, E>(map: Map<K, Set<E>>, key: K, entry: E): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(entry);
}

function unfile<K, E>(map: Map<K, Set<E>>, key: K, entry: E): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(entry);
  if (set.size === 0) map.delete(key);
}
