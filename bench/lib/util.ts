/** Clocks, waiting and small statistics shared by the benchmark. */

/** Wall-clock milliseconds on the monotonic clock: the publisher stamps, the clients compare. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await sleep(everyMs);
  }
}

/** A Float64Array that grows: millions of latencies without millions of boxed numbers. */
export class Samples {
  private data = new Float64Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

export interface Distribution {
  count: number;
  min: number | null;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function distribution(sorted: Float64Array): Distribution {
  let sum = 0;
  for (const v of sorted) sum += v;
  const n = sorted.length;
  return {
    count: n,
    min: n ? sorted[0]! : null,
    mean: n ? sum / n : null,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: n ? sorted[n - 1]! : null,
  };
}

/** Median of the numbers present (nulls are runs where the figure does not exist). */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** Up to `points` (x, fraction ≤ x) pairs of an ascending array, for drawing a CDF. */
export function cdfPoints(sorted: Float64Array, points = 400): [number, number][] {
  const n = sorted.length;
  if (n === 0) return [];
  const out: [number, number][] = [];
  const step = Math.max(1, Math.floor(n / points));
  for (let i = 0; i < n; i += step) out.push([sorted[i]!, (i + 1) / n]);
  // The tail matters most: keep the last 1% in finer steps, and the maximum.
  const tailStart = Math.floor(n * 0.99);
  const tailStep = Math.max(1, Math.floor((n - tailStart) / 50));
  for (let i = tailStart; i < n; i += tailStep) out.push([sorted[i]!, (i + 1) / n]);
  out.push([sorted[n - 1]!, 1]);
  out.sort((a, b) => a[1] - b[1]);
  return out.filter((p, i) => i === 0 || p[1] !== out[i - 1]![1]);
}

export const round = (v: number | null | undefined, digits = 2): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : null;
