/**
 * Waiting on conditions instead of fixed sleeps: a fixed sleep is too short on a busy machine
 * and wasted time on an idle one.
 */

export interface WaitOptions {
  /** Give up (and fail with `what` in the message) after this long. */
  timeoutMs?: number;
  /** What is awaited, for the failure message. */
  what?: string;
  /** Polling period. */
  intervalMs?: number;
}

/** Polls `condition` until it returns a truthy value, which it resolves with; fails clearly on timeout. */
export async function waitFor<T>(
  condition: () => Promise<T> | T,
  { timeoutMs = 10_000, what = 'condition', intervalMs = 50 }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await condition();
      if (v) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Absence cannot be observed, only quiet: waits until `count()` (things received so far) has
 * not changed for `quietMs`, e.g. so a late duplicate would have shown up. Fails if it never
 * settles within `timeoutMs`. Resolves with the settled count.
 */
export async function waitForQuiet(
  count: () => number,
  { quietMs = 500, timeoutMs = 10_000, what = 'arrivals to stop' }: { quietMs?: number; timeoutMs?: number; what?: string } = {},
): Promise<number> {
  let seen = count();
  let since = Date.now();
  await waitFor(
    () => {
      const now = count();
      if (now !== seen) {
        seen = now;
        since = Date.now();
      }
      return Date.now() - since >= quietMs;
    },
    { timeoutMs, what: `${what} (quiet for ${quietMs} ms)`, intervalMs: Math.min(50, quietMs) },
  );
  return seen;
}
