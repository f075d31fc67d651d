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

/** An owner's state during one `match`: which of their entries matched. */
interface Slot<Owner, W extends SavedWatchlist> {
  owner: Owner;
  /** The `match` call this slot was last touched by. */
  round: number;
  first: Entry<Owner, W> | null;
  more: Entry<Owner, W>[] | null;
}

interface Entry<Owner, W extends SavedWatchlist> {
  slot: Slot<Owner, W>;
  watchlist: W;
  /** Position in the owner's list, to give matches back in that order. */
  rank: number;
  /** `[watchlist]`, made once: what `match` gives an owner who matched only this one. */
  alone: readonly W[];
  check: Check;
}

/**
 * What a watchlist asks of a detection beyond the key it is filed under (its symbols or its
 * tiers are satisfied by the bucket), made once per watchlist whatever the number of buckets.
 */
interface Check {
  /** Equal for watchlists that ask the same: they share a group, and one predicate call. */
  key: string;
  /** The lowest confidence it can match (`minConfidence`, else 0). */
  floor: number;
  matches(d: FilterableDetection): boolean;
}

/**
 * Entries whose checks are the same: the predicate runs once for all. Lists of symbols alone all
 * ask nothing more of a detection filed under one of their symbols.
 */
interface Group<Owner, W extends SavedWatchlist> {
  check: Check;
  /** A set, so that a thousand users leaving one group costs a thousand deletes, not a million steps. */
  entries: Set<Entry<Owner, W>>;
}

/**
 * The groups filed under one key, in ascending order of `floor`, so a detection is checked only
 * against those whose `minConfidence` it reaches.
 */
class Bucket<Owner, W extends SavedWatchlist> {
  private readonly groups: Group<Owner, W>[] = [];
  private readonly byKey = new Map<string, Group<Owner, W>>();

  get size(): number {
    return this.groups.length;
  }

  add(entry: Entry<Owner, W>): void {
    let group = this.byKey.get(entry.check.key);
    if (!group) {
      group = { check: entry.check, entries: new Set() };
      this.byKey.set(entry.check.key, group);
      this.groups.splice(this.positionAfter(entry.check.floor), 0, group);
    }
    group.entries.add(entry);
  }

  remove(entry: Entry<Owner, W>): void {
    const group = this.byKey.get(entry.check.key);
    if (!group) return;
    group.entries.delete(entry);
    if (group.entries.size > 0) return;
    this.byKey.delete(entry.check.key);
    this.groups.splice(this.groups.indexOf(group), 1);
  }

  /** Calls `found` with each entry `d` matches. */
  visit(d: FilterableDetection, found: (e: Entry<Owner, W>) => void): void {
    for (const { check, entries } of this.groups) {
      if (check.floor > d.confidence) return;
      if (check.matches(d)) for (const e of entries) found(e);
    }
  }

  /** After any group of the same floor: where a binary search for the next floor up ends. */
  private positionAfter(floor: number): number {
    let lo = 0;
    let hi = this.groups.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.groups[mid]!.check.floor <= floor) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The watchlists of many owners, indexed so that a detection is checked only against those it
 * could match: a watchlist with symbols is filed under each symbol, one without symbols but with
 * tiers under each tier, and only one with neither is checked against every detection. Within
 * each, watchlists asking the same of a detection share one check, and only those whose
 * confidence floor the detection reaches are checked. So a user with 50 watchlists of 500
 * symbols costs the others one map lookup, not 25,000 comparisons, and 5,000 "HIGH at 0.97 or
 * more" lists under one tier cost a detection of confidence 0.8 one comparison.
 */
export class WatchlistIndex<Owner, W extends SavedWatchlist> {
  private readonly bySymbol = new Map<string, Bucket<Owner, W>>();
  private readonly byTier = new Map<Tier, Bucket<Owner, W>>();
  private readonly unindexed = new Bucket<Owner, W>();
  private readonly byOwner = new Map<Owner, Entry<Owner, W>[]>();
  private round = 0;

  /** `compile` turns a filter into its predicate; tests pass one that counts the calls. */
  constructor(private readonly compile: (f: WatchlistFilter) => CompiledFilter = compileFilter) {}

  /** Replaces everything filed for `owner` with `watchlists`. */
  set(owner: Owner, watchlists: readonly W[]): void {
    this.delete(owner);
    const slot: Slot<Owner, W> = { owner, round: 0, first: null, more: null };
    const entries = watchlists.map((watchlist, rank) => {
      const { symbols, tiers } = watchlist.filter;
      // What the bucket does not already ensure: the symbols under a symbol, the tiers under a tier.
      const residual = symbols?.length
        ? { ...watchlist.filter, symbols: null }
        : tiers?.length
          ? { ...watchlist.filter, tiers: null }
          : watchlist.filter;
      const entry: Entry<Owner, W> = { slot, watchlist, rank, alone: [watchlist], check: this.checkOf(residual) };
      if (symbols?.length) for (const s of symbols) bucketIn(this.bySymbol, s).add(entry);
      else if (tiers?.length) for (const t of tiers) bucketIn(this.byTier, t).add(entry);
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
      else this.unindexed.remove(entry);
    }
    this.byOwner.delete(owner);
  }

  /**
   * Each owner with a watchlist `d` matches, with those watchlists in the order they were set.
   * The lists are read-only: an owner who matched one watchlist gets the same array every time.
   */
  match(d: FilterableDetection): [Owner, readonly W[]][] {
    // Each owner's slot collects their matched entries; `round` tells this call's from stale ones.
    const round = ++this.round;
    const touched: Slot<Owner, W>[] = [];
    const add = (e: Entry<Owner, W>) => {
      const slot = e.slot;
      if (slot.round !== round) {
        slot.round = round;
        slot.first = e;
        slot.more = null;
        touched.push(slot);
      } else (slot.more ??= []).push(e);
    };
    this.bySymbol.get(d.symbol)?.visit(d, add);
    this.byTier.get(d.tier)?.visit(d, add);
    this.unindexed.visit(d, add);
    return touched.map((slot) => {
      const first = slot.first!;
      // Several entries (from several buckets, or several lists of one symbol): back in the owner's order.
      const watchlists = slot.more ? [first, ...slot.more].sort((a, b) => a.rank - b.rank).map((e) => e.watchlist) : first.alone;
      slot.first = slot.more = null;
      return [slot.owner, watchlists];
    });
  }

  /** Owners with at least one watchlist filed. */
  get owners(): number {
    return this.byOwner.size;
  }

  private checkOf(filter: WatchlistFilter): Check {
    const compiled = this.compile(filter);
    return { key: JSON.stringify(filter), floor: filter.minConfidence ?? 0, matches: (d) => compiled.matches(d) };
  }
}

function bucketIn<K, Owner, W extends SavedWatchlist>(map: Map<K, Bucket<Owner, W>>, key: K): Bucket<Owner, W> {
  let bucket = map.get(key);
  if (!bucket) map.set(key, (bucket = new Bucket()));
  return bucket;
}

function unfile<K, Owner, W extends SavedWatchlist>(map: Map<K, Bucket<Owner, W>>, key: K, entry: Entry<Owner, W>): void {
  const bucket = map.get(key);
  if (!bucket) return;
  bucket.remove(entry);
  if (bucket.size === 0) map.delete(key);
}
