import { describe, expect, it } from 'vitest';
import { percentile, recentSamples, summarize } from '../src/logic/latency.js';

describe('percentile (nearest rank)', () => {
  it('picks the smallest value with p % at or below it', () => {
    const v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 95)).toBe(100);
    expect(percentile(v, 90)).toBe(90);
    expect(percentile(v, 0)).toBe(10);
    expect(percentile(v, 100)).toBe(100);
  });

  it('is the value itself for one value', () => {
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([7], 95)).toBe(7);
  });

  it('refuses no values', () => {
    expect(() => percentile([], 50)).toThrow(/no values/);
  });
});

describe('summarize', () => {
  const now = 1_000_000;

  it('gives p50 and p95 of the last minute only', () => {
    const samples = [
      { at: now - 61_000, ms: 9_999 }, // older than a minute: left out
      { at: now - 60_000, ms: 9_999 }, // exactly a minute old: left out
      ...Array.from({ length: 20 }, (_, i) => ({ at: now - 1_000 * i, ms: i + 1 })),
    ];
    expect(summarize(samples, now)).toEqual({ count: 20, p50: 10, p95: 19 });
  });

  it('is null when nothing arrived in the last minute', () => {
    expect(summarize([{ at: now - 120_000, ms: 5 }], now)).toBeNull();
    expect(summarize([], now)).toBeNull();
  });

  it('does not count a sample from the future (a clock moved back)', () => {
    expect(recentSamples([{ at: now + 5, ms: 1 }], now)).toEqual([]);
  });

  it('sorts by value, not by arrival', () => {
    const samples = [300, 5, 100, 40].map((ms, i) => ({ at: now - i, ms }));
    expect(summarize(samples, now)).toEqual({ count: 4, p50: 40, p95: 300 });
  });
});
