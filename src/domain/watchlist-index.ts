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
  /** The entries this round matched (reused from round to round). */
  matched: Entry<Owner, W>[];
  /** The last few lists of several watchlists handed out, newest first (see `combination`). */
  recent: (readonly W[])[];
}

/** How many lists of several watchlists an owner's slot remembers. */
const RECENT_COMBINATIONS = 4;

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
    const slot: Slot<Owner, W> = { owner, round: 0, matched: [], recent: [] };
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
   * The lists are read-only, and the same array comes back for the same watchlists: always for
   * one watchlist alone, and for several while the combination is among the owner's last few.
   */
  match(d: FilterableDetection): [Owner, readonly W[]][] {
    // Each owner's slot collects their matched entries; `round` tells this call's from stale ones.
    const round = ++this.round;
    const touched: Slot<Owner, W>[] = [];
    const add = (e: Entry<Owner, W>) => {
      const slot = e.slot;
      if (slot.round !== round) {
        slot.round = round;
        slot.matched.length = 0;
        touched.push(slot);
      }
      slot.matched.push(e);
    };
    this.bySymbol.get(d.symbol)?.visit(d, add);
    this.byTier.get(d.tier)?.visit(d, add);
    this.unindexed.visit(d, add);
    return touched.map((slot) => [slot.owner, slot.matched.length === 1 ? slot.matched[0]!.alone : combination(slot)]);
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

/**
 * Several matched entries (from several buckets, or several lists under one key) as watchlists,
 * back in the owner's order. A combination handed out recently comes back as the same array: a
 * caller that caches by array (an alert's `watchlists`, executed once per distinct array) hits
 * for a user whose tier lists match together as it does for one who matched a single list.
 */
function combination<Owner, W extends SavedWatchlist>(slot: Slot<Owner, W>): readonly W[] {
  const matched = slot.matched.sort((a, b) => a.rank - b.rank);
  for (const list of slot.recent) if (sameWatchlists(list, matched)) return list;
  const list = matched.map((e) => e.watchlist);
  slot.recent.unshift(list);
  if (slot.recent.length > RECENT_COMBINATIONS) slot.recent.pop();
  return list;
}

function sameWatchlists<W extends SavedWatchlist>(list: readonly W[], matched: readonly Entry<unknown, W>[]): boolean {
  if (list.length !== matched.length) return false;
  for (let i = 0; i < list.length; i++) if (list[i] !== matched[i]!.watchlist) return false;
  return true;
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
