import { describe, expect, it } from 'vitest';
import { compareIds, mergeRows } from '../src/logic/rows.js';

const rows = (...ids: (string | number)[]) => ids.map((id) => ({ id: String(id) }));
const ids = (list: readonly { id: string }[]) => list.map((r) => r.id);

describe('compareIds', () => {
  it('orders by number, not by text, beyond 2^53 too', () => {
    expect(compareIds('9', '10')).toBeLessThan(0);
    expect(compareIds('100', '99')).toBeGreaterThan(0);
    expect(compareIds('42', '42')).toBe(0);
    expect(compareIds('9007199254740993', '9007199254740992')).toBeGreaterThan(0);
  });
});

describe('mergeRows', () => {
  it('puts live rows on top, newest first', () => {
    expect(ids(mergeRows(rows(5, 4, 3), rows(6, 8, 7)))).toEqual(['8', '7', '6', '5', '4', '3']);
  });

  it('keeps each id once: a replay of rows already shown changes nothing', () => {
    const current = rows(12, 11, 10);
    expect(mergeRows(current, rows(10, 11, 12))).toBe(current);
    expect(ids(mergeRows(current, rows(11, 13, 13, 12)))).toEqual(['13', '12', '11', '10']);
  });

  it('places a late row by its id, not by when it came', () => {
    expect(ids(mergeRows(rows(20, 18), rows(19)))).toEqual(['20', '19', '18']);
  });

  it('keeps at most max rows, dropping the oldest', () => {
    const merged = mergeRows(rows(3, 2, 1), rows(5, 4), 4);
    expect(ids(merged)).toEqual(['5', '4', '3', '2']);
  });

  it('returns the same array when full and everything new is older than the oldest kept', () => {
    const full = rows(10, 9, 8);
    expect(mergeRows(full, rows(7, 1), 3)).toBe(full);
    expect(ids(mergeRows(full, rows(7, 11), 3))).toEqual(['11', '10', '9']);
  });

  it('does not change its inputs', () => {
    const current = rows(2, 1);
    const incoming = rows(3);
    mergeRows(current, incoming);
    expect(ids(current)).toEqual(['2', '1']);
    expect(ids(incoming)).toEqual(['3']);
  });
});
