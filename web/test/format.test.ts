import { describe, expect, it } from 'vitest';
import { connectionView, OFFLINE_AFTER_MS } from '../src/logic/connection.js';
import { describeFilter, parseSymbols, toPatternFilter } from '../src/logic/filter.js';
import { age, clock, millis, resultFigure } from '../src/logic/format.js';
import type { Watchlist } from '../src/types.js';

const now = new Date(2026, 10, 26, 14, 30, 0).getTime();

describe('age', () => {
  it('reads short', () => {
    expect(age(now, now)).toBe('now');
    expect(age(now + 500, now)).toBe('now');
    expect(age(now - 42_000, now)).toBe('42s');
    expect(age(now - 7 * 60_000, now)).toBe('7m');
    expect(age(now - 3 * 3_600_000, now)).toBe('3h');
    expect(age(now - 3 * 86_400_000, now)).toBe('3d');
  });
});

describe('clock', () => {
  it('is the time today, and the date with it otherwise', () => {
    expect(clock(new Date(2026, 10, 26, 9, 5, 7).getTime(), now)).toBe('09:05:07');
    expect(clock(new Date(2026, 10, 25, 9, 5, 7).getTime(), now)).toBe('Nov 25 09:05');
  });
});

describe('millis', () => {
  it('fits a status bar', () => {
    expect(millis(7.6)).toBe('8 ms');
    expect(millis(1_449)).toBe('1.4 s');
    expect(millis(12_300)).toBe('12 s');
  });
});

describe('resultFigure', () => {
  it('shows fractions of a whole as percentages, counts as counts', () => {
    expect(resultFigure('win_rate', 0.65)).toBe('65.0 %');
    expect(resultFigure('max_drawdown', 0.08)).toBe('8.0 %');
    expect(resultFigure('total_trades', 1482)).toBe('1,482');
    expect(resultFigure('sharpe_ratio', 1.4)).toBe('1.40');
    expect(resultFigure('note', 'ok')).toBe('ok');
  });
});

describe('connectionView', () => {
  it('is live, connecting, reconnecting for a moment, then offline since the loss', () => {
    expect(connectionView('live', null, now, true)).toEqual({ kind: 'live', text: 'Live' });
    expect(connectionView('connecting', null, now, true).kind).toBe('connecting');
    const lost = now - 1_000;
    expect(connectionView('reconnecting', lost, now, true)).toEqual({ kind: 'reconnecting', text: 'Reconnecting…' });
    expect(connectionView('reconnecting', now - OFFLINE_AFTER_MS, now, true)).toEqual({
      kind: 'offline',
      text: `Offline since ${clock(now - OFFLINE_AFTER_MS, now)}`,
    });
    // A resubscription after a loss is still "reconnecting", not a fresh start.
    expect(connectionView('connecting', lost, now, true).kind).toBe('reconnecting');
  });

  it('is offline at once when the browser is, or when the client gave up', () => {
    expect(connectionView('reconnecting', now, now, false).kind).toBe('offline');
    expect(connectionView('closed', now, now, true).kind).toBe('offline');
  });
});

describe('the filter bar', () => {
  it('parses typed symbols: commas or spaces, upper-cased, each once', () => {
    expect(parseSymbols(' aapl, NVDA  msft;aapl ,, ')).toEqual(['AAPL', 'NVDA', 'MSFT']);
    expect(parseSymbols('   ')).toEqual([]);
  });

  it('makes a PatternFilter, or none', () => {
    expect(toPatternFilter({ kind: 'typed', symbols: [], minPriority: null })).toBeNull();
    expect(toPatternFilter({ kind: 'typed', symbols: ['AAPL'], minPriority: 'HIGH' })).toEqual({
      symbols: ['AAPL'],
      minPriority: 'HIGH',
    });
    const watchlist: Watchlist = {
      id: '3',
      name: 'Semis',
      filter: { symbols: ['NVDA', 'AMD'], patterns: null, tiers: ['DAILY'], minConfidence: 0.8, minPriority: null },
    };
    expect(toPatternFilter({ kind: 'watchlist', watchlist })).toEqual({
      symbols: ['NVDA', 'AMD'],
      tiers: ['DAILY'],
      minConfidence: 0.8,
    });
    expect(describeFilter({ kind: 'watchlist', watchlist })).toBe('NVDA, AMD · daily · confidence ≥ 0.8');
    expect(describeFilter({ kind: 'typed', symbols: [], minPriority: 'HIGH' })).toBe('HIGH and above');
    expect(describeFilter({ kind: 'typed', symbols: [], minPriority: null })).toBe('all detections');
  });
});
