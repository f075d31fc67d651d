import { describe, expect, it } from 'vitest';
import { ArrivalLog, MINUTE_MS, perMinute } from '../src/logic/rate.js';

// 12:34:30 of some day, half a minute into the current minute.
const minute = Math.floor(Date.UTC(2026, 10, 26, 12, 34) / MINUTE_MS) * MINUTE_MS;
const now = minute + 30_000;

describe('perMinute', () => {
  it('counts per wall-clock minute, oldest first, the current minute last', () => {
    const times = [now - 1, minute, minute - 1, minute - MINUTE_MS, minute - 59 * MINUTE_MS, minute - 60 * MINUTE_MS];
    const counts = perMinute(times, now);
    expect(counts).toHaveLength(60);
    expect(counts[59]).toBe(2); // now - 1 and the minute's first millisecond
    expect(counts[58]).toBe(2); // the minute before: its last millisecond and its first
    expect(counts[0]).toBe(1); // 59 minutes ago; 60 minutes ago is out of the hour
    expect(counts.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBe(5);
  });

  it('leaves out what is in the future', () => {
    expect(perMinute([minute + MINUTE_MS], now).every((c) => c === 0)).toBe(true);
  });

  it('marks minutes before knownSince as unknown (null), the minute holding it as known', () => {
    const knownSince = minute - 10 * MINUTE_MS + 5_000;
    const counts = perMinute([knownSince, knownSince + 1], now, { minutes: 12, knownSince });
    expect(counts.slice(0, 1)).toEqual([null]);
    expect(counts[1]).toBe(2);
    expect(counts.slice(2)).toEqual(Array(10).fill(0));
  });

  it('can count fewer minutes', () => {
    expect(perMinute([now], now, { minutes: 3 })).toEqual([0, 0, 1]);
  });
});

describe('ArrivalLog', () => {
  it('counts an id once, whether it came from the query or live, however often it is replayed', () => {
    const log = new ArrivalLog();
    expect(log.add('1', now - 1_000)).toBe(true);
    expect(log.add('2', now - 2_000)).toBe(true);
    expect(log.add('1', now - 1_000)).toBe(false);
    expect(log.add('2', now)).toBe(false);
    expect(log.perMinute(now)[59]).toBe(2);
  });

  it('forgets what is older than an hour', () => {
    const log = new ArrivalLog();
    log.add('old', now - 61 * MINUTE_MS);
    log.add('new', now - MINUTE_MS);
    log.prune(now);
    expect(log.size).toBe(1);
  });

  it('clear() forgets everything, knownSince included', () => {
    const log = new ArrivalLog();
    log.add('1', now);
    log.knownSince = now - 1_000;
    log.clear();
    expect(log.size).toBe(0);
    expect(log.perMinute(now).includes(null)).toBe(false);
  });
});

describe('ArrivalLog bounds', () => {
  it('holds at most max ids, forgetting the earliest added, and says from when it is complete', () => {
    const log = new ArrivalLog(60 * MINUTE_MS, 3);
    for (let i = 0; i < 4; i++) log.add(String(i), now - (10 - i) * MINUTE_MS);
    expect(log.size).toBe(3);
    expect(log.knownSince).toBe(now - 10 * MINUTE_MS);
    log.add('4', now);
    expect(log.knownSince).toBe(now - 9 * MINUTE_MS);
    // The forgotten ids' minutes read unknown, not zero.
    const counts = log.perMinute(now);
    expect(counts[59 - 11]).toBeNull();
    expect(counts[59]).toBe(1);
  });

  it('prunes from the oldest and stops at the first inside the hour', () => {
    const log = new ArrivalLog();
    log.add('a', now - 70 * MINUTE_MS);
    log.add('b', now - 61 * MINUTE_MS);
    log.add('c', now - 30 * MINUTE_MS);
    log.prune(now);
    expect(log.size).toBe(1);
    expect(log.add('c', now)).toBe(false);
  });
});
