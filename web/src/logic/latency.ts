/**
 * Delivery latency as the dashboard shows it (contract §8): from the server's `receivedAt` (the
 * ingest heard the message) to the row being in the page, p50 and p95 over the last minute. Both
 * clocks are involved, so a browser whose clock is off shows that offset too.
 */

export const LATENCY_WINDOW_MS = 60_000;

export interface LatencySample {
  /** When the row was shown (epoch ms). */
  at: number;
  ms: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
}

/** Nearest-rank percentile of values sorted ascending: the smallest value with at least p % at or below it. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('percentile of no values');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** The samples still inside the window ending at `now`. */
export function recentSamples(samples: readonly LatencySample[], now: number, windowMs = LATENCY_WINDOW_MS): LatencySample[] {
  return samples.filter((s) => s.at > now - windowMs && s.at <= now);
}

/** p50 and p95 of the samples of the window ending at `now`; null when there are none. */
export function summarize(samples: readonly LatencySample[], now: number, windowMs = LATENCY_WINDOW_MS): LatencySummary | null {
  const values = recentSamples(samples, now, windowMs)
    .map((s) => s.ms)
    .sort((a, b) => a - b);
  if (values.length === 0) return null;
  return { count: values.length, p50: percentile(values, 50), p95: percentile(values, 95) };
}
