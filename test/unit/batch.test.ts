import { describe, expect, it } from 'vitest';
import { createBatcher } from '../../src/lib/batch.js';

describe('createBatcher', () => {
  it('runs the first item alone, gathers what arrives meanwhile into the next batch, and answers each caller with its own result', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const double = createBatcher(async (items: number[]) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
      return items.map((i) => i * 2);
    }, 3);
    const first = double(1);
    const rest = [2, 3, 4, 5].map(double);
    release();
    expect(await Promise.all([first, ...rest])).toEqual([2, 4, 6, 8, 10]);
    expect(batches).toEqual([[1], [2, 3, 4], [5]]);
  });

  it('rejects every caller of a failed batch, and goes on with the next', async () => {
    let calls = 0;
    const run = createBatcher((items: string[]) => {
      calls++;
      return items.includes('bad') ? Promise.reject(new Error('boom')) : Promise.resolve(items);
    });
    const results = await Promise.allSettled([run('bad'), run('a'), run('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(calls).toBe(2);
  });
});
