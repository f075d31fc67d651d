import { describe, expect, it } from 'vitest';
import { matchingWatchlists, WatchlistIndex, type SavedWatchlist } from '../../src/domain/watchlist-index.js';
import { compileFilter, type FilterableDetection } from '../../src/domain/pattern-filter.js';
import { PRIORITIES, TIERS, type Priority, type Tier } from '../../src/schema/events.js';
import type { WatchlistFilter } from '../../src/schema/db.js';

/** `match` as a map, owner → watchlists. */
const matchOf = <O, W extends SavedWatchlist>(index: WatchlistIndex<O, W>, d: FilterableDetection) => new Map(index.match(d));

/** A small deterministic generator (mulberry32), so a failure repeats. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'TSLA', 'AMZN', 'META'];
const PATTERNS = ['BreakoutBO', 'Doji', 'Hammer'];

function someOf<T>(rnd: () => number, all: readonly T[]): T[] | null {
  if (rnd() < 0.5) return null;
  const picked = all.filter(() => rnd() < 0.4);
  return picked.length ? picked : null;
}

function randomFilter(rnd: () => number): WatchlistFilter {
  return {
    symbols: someOf(rnd, SYMBOLS),
    patterns: someOf(rnd, PATTERNS),
    tiers: someOf<Tier>(rnd, TIERS),
    minConfidence: rnd() < 0.3 ? Math.round(rnd() * 100) / 100 : null,
    minPriority: rnd() < 0.3 ? PRIORITIES[Math.floor(rnd() * 4)]! : null,
  };
}

function randomDetection(rnd: () => number): FilterableDetection {
  const confidence = Math.round(rnd() * 100) / 100;
  const priority: Priority = confidence >= 0.9 ? 'CRITICAL' : confidence >= 0.8 ? 'HIGH' : confidence >= 0.7 ? 'MEDIUM' : 'LOW';
  return {
    symbol: SYMBOLS[Math.floor(rnd() * SYMBOLS.length)]!,
    pattern: PATTERNS[Math.floor(rnd() * PATTERNS.length)]!,
    tier: TIERS[Math.floor(rnd() * TIERS.length)]!,
    confidence,
    priority,
    detectedAt: new Date(0),
  };
}

/** A daily Doji of AAPL at 0.5 (LOW), with what `over` changes. */
const detectionOf = (over: Partial<FilterableDetection> = {}): FilterableDetection => ({
  symbol: 'AAPL',
  pattern: 'Doji',
  tier: 'DAILY',
  confidence: 0.5,
  priority: 'LOW',
  detectedAt: new Date(0),
  ...over,
});

const none: WatchlistFilter = { symbols: null, patterns: null, tiers: null, minConfidence: null, minPriority: null };

describe('WatchlistIndex', () => {
  it('finds exactly what checking every watchlist of every owner finds, in each owner’s order', () => {
    const rnd = random(7);
    const owners = new Map<number, SavedWatchlist[]>();
    const index = new WatchlistIndex<number, SavedWatchlist>();
    let id = 0;
    for (let owner = 0; owner < 60; owner++) {
      const list = Array.from({ length: Math.floor(rnd() * 8) }, () => ({ id: ++id, filter: randomFilter(rnd) }));
      owners.set(owner, list);
      index.set(owner, list);
    }
    for (let i = 0; i < 2_000; i++) {
      const d = randomDetection(rnd);
      const expected = new Map<number, SavedWatchlist[]>();
      for (const [owner, list] of owners) {
        const matched = matchingWatchlists(list, d);
        if (matched.length) expected.set(owner, matched);
      }
      expect(matchOf(index, d)).toEqual(expected);
    }
  });

  it('replaces an owner’s watchlists and forgets a deleted owner entirely', () => {
    const index = new WatchlistIndex<string, SavedWatchlist>();
    const aapl = { id: 1, filter: { ...none, symbols: ['AAPL'] } };
    const daily = { id: 2, filter: { ...none, tiers: ['DAILY' as const] } };
    const all = { id: 3, filter: none };
    index.set('ann', [aapl, daily, all]);
    const d = detectionOf();
    expect(matchOf(index, d).get('ann')).toEqual([aapl, daily, all]);

    index.set('ann', [daily]);
    expect(matchOf(index, d).get('ann')).toEqual([daily]);
    expect(matchOf(index, { ...d, tier: 'COMBO' }).size).toBe(0);

    index.delete('ann');
    expect(matchOf(index, d).size).toBe(0);
    expect(index.owners).toBe(0);
    // Nothing left filed under a symbol or tier either: a fresh owner sees only their own.
    index.set('bob', [all]);
    expect([...matchOf(index, d).keys()]).toEqual(['bob']);
  });

  it('serves one owner with 50 watchlists of 500 symbols by lookup, not by comparing', () => {
    const { index, checked, reset } = countingIndex();
    const big = Array.from({ length: 50 }, (_, w) => ({
      id: w + 1,
      filter: { ...none, symbols: Array.from({ length: 500 }, (_, s) => `S${w}X${s}`) },
    }));
    index.set('heavy', big);
    index.set('light', [{ id: 999, filter: { ...none, symbols: ['AAPL'] } }]);
    const d = detectionOf();
    expect([...matchOf(index, d).keys()]).toEqual(['light']);
    expect(checked()).toBe(1);
    reset();
    expect(
      matchOf(index, { ...d, symbol: 'S7X300' })
        .get('heavy')!
        .map((w) => w.id),
    ).toEqual([8]);
    expect(checked()).toBe(1);
  });

  it('checks a detection only against the watchlists whose minConfidence it reaches, and identical ones once', () => {
    const { index, checked, reset } = countingIndex();
    // 3,000 owners with a tier-only list at 0.97–0.99, as the benchmark's users have.
    for (let owner = 0; owner < 3_000; owner++) {
      const filter = { ...none, tiers: ['DAILY' as const], minConfidence: 0.97 + (owner % 3) / 100 };
      index.set(String(owner), [{ id: owner, filter }]);
    }
    const d = detectionOf({ confidence: 0.8, priority: 'HIGH' });
    expect(matchOf(index, d).size).toBe(0);
    expect(checked()).toBe(0);
    reset();
    // At 0.98 the 2,000 lists at 0.97 and 0.98 match, through one check for each of the two
    // filters they hold; the 1,000 at 0.99 are not checked.
    expect(matchOf(index, { ...d, confidence: 0.98, priority: 'CRITICAL' }).size).toBe(2_000);
    expect(checked()).toBe(2);
  });

  it('hands out the same array for the same watchlists while the combination is recent, and new ones after a change', () => {
    const index = new WatchlistIndex<string, SavedWatchlist>();
    // The benchmark's tier lists: several floors of one tier, so one detection matches a few together.
    const at = (id: number, floor: number) => ({ id, filter: { ...none, tiers: ['DAILY' as const], minConfidence: floor } });
    const lists = [at(1, 0.97), at(2, 0.98), at(3, 0.99), { id: 4, filter: { ...none, symbols: ['AAPL'] } }];
    index.set('ann', lists);
    const annAt = (confidence: number, symbol = 'MSFT') =>
      matchOf(index, detectionOf({ symbol, confidence, priority: 'CRITICAL' })).get('ann');

    const two = annAt(0.985)!;
    expect(two.map((w) => w.id)).toEqual([1, 2]);
    const three = annAt(0.99)!;
    expect(three.map((w) => w.id)).toEqual([1, 2, 3]);
    expect(annAt(0.985)).toBe(two);
    expect(annAt(0.995)).toBe(three);
    // Four more combinations push the first out: equal, not the same array.
    for (const [c, symbol] of [
      [0.5, 'AAPL'],
      [0.975, 'AAPL'],
      [0.985, 'AAPL'],
      [0.99, 'AAPL'],
    ] as const)
      annAt(c, symbol);
    expect(annAt(0.985)).not.toBe(two);
    expect(annAt(0.985)).toEqual(two);
    // A single match is always its own array.
    expect(annAt(0.975)).toBe(annAt(0.971));

    // Set again (a renamed list, say): the rows of before are never handed out again.
    const renamed = lists.map((w) => ({ ...w }));
    index.set('ann', renamed);
    const after = annAt(0.985)!;
    expect(after).not.toBe(two);
    expect(after[0]).toBe(renamed[0]);
  });
});

/** An index whose predicates count their calls: only the watchlists a detection could match should run. */
function countingIndex() {
  let checked = 0;
  const counting = (f: WatchlistFilter) => {
    const compiled = compileFilter(f);
    return {
      ...compiled,
      matches: (d: FilterableDetection) => {
        checked++;
        return compiled.matches(d);
      },
    };
  };
  return {
    index: new WatchlistIndex<string, SavedWatchlist>(counting),
    checked: () => checked,
    reset: () => void (checked = 0),
  };
}
