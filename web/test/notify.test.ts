import { describe, expect, it } from 'vitest';
import { merits, NotifiedIds, shouldNotify } from '../src/logic/notify.js';

const critical = (id: string) => ({ id, priority: 'CRITICAL' as const });

describe('merits', () => {
  it('is CRITICAL only', () => {
    expect(merits({ priority: 'CRITICAL' })).toBe(true);
    for (const priority of ['HIGH', 'MEDIUM', 'LOW'] as const) expect(merits({ priority })).toBe(false);
  });
});

describe('shouldNotify', () => {
  it('notifies a CRITICAL detection once, however often it arrives', () => {
    const seen = new NotifiedIds();
    expect(shouldNotify(critical('7'), true, seen)).toBe(true);
    expect(shouldNotify(critical('7'), true, seen)).toBe(false);
    expect(shouldNotify(critical('8'), true, seen)).toBe(true);
  });

  it('never below CRITICAL, and nothing while disabled (nor remembered then)', () => {
    const seen = new NotifiedIds();
    expect(shouldNotify({ id: '1', priority: 'HIGH' }, true, seen)).toBe(false);
    expect(shouldNotify(critical('2'), false, seen)).toBe(false);
    expect(seen.size).toBe(0);
  });

  it('remembers across a reload through its JSON', () => {
    const before = new NotifiedIds();
    shouldNotify(critical('41'), true, before);
    const after = NotifiedIds.parse(JSON.stringify(before));
    expect(shouldNotify(critical('41'), true, after)).toBe(false);
    expect(shouldNotify(critical('42'), true, after)).toBe(true);
  });
});

describe('NotifiedIds', () => {
  it('keeps the newest max ids, forgetting the oldest first', () => {
    const seen = new NotifiedIds([], 3);
    for (const id of ['1', '2', '3', '4']) seen.add(id);
    expect(seen.toJSON()).toEqual(['2', '3', '4']);
    expect(seen.has('1')).toBe(false);
  });

  it('loads at most max ids, the newest', () => {
    expect(new NotifiedIds(['1', '2', '3', '4', '5'], 2).toJSON()).toEqual(['4', '5']);
  });

  it('starts empty from something it did not write', () => {
    expect(NotifiedIds.parse('not json').size).toBe(0);
    expect(NotifiedIds.parse('{"a":1}').size).toBe(0);
    expect(NotifiedIds.parse('["1", 2, null]').toJSON()).toEqual(['1']);
    expect(NotifiedIds.parse(null).size).toBe(0);
  });
});
