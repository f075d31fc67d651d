/**
 * Alerts per minute over the last hour (contract §8), by the server's `receivedAt`. Each
 * detection counts once, whether it came from the first query or live, and however often a
 * reconnect replays it.
 */

export const MINUTE_MS = 60_000;
export const RATE_MINUTES = 60;

/**
 * Counts per wall-clock minute, oldest first; the last bucket is the current minute so far.
 * A bucket that ends before `knownSince` is null: the dashboard did not load that far back, so
 * it cannot say (null `knownSince`: everything is known).
 */
export function perMinute(
  times: Iterable<number>,
  now: number,
  { minutes = RATE_MINUTES, knownSince = null }: { minutes?: number; knownSince?: number | null } = {},
): (number | null)[] {
  const currentStart = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  const firstStart = currentStart - (minutes - 1) * MINUTE_MS;
  const counts: (number | null)[] = Array.from({ length: minutes }, (_, i) =>
    knownSince !== null && firstStart + (i + 1) * MINUTE_MS <= knownSince ? null : 0,
  );
  for (const t of times) {
    if (t < firstStart || t >= currentStart + MINUTE_MS) continue;
    const i = Math.floor((t - firstStart) / MINUTE_MS);
    const c = counts[i];
    if (c !== null && c !== undefined) counts[i] = c + 1;
  }
  return counts;
}

/** Ids an ArrivalLog holds at most: a flood of 100,000 an hour still fits, memory stays bounded. */
export const MAX_ARRIVALS = 100_000;

/**
 * The detections heard in the last hour, by id (each once), with when the server received them.
 * Told oldest first (live alerts come in id order), it forgets oldest first.
 */
export class ArrivalLog {
  private readonly byId = new Map<string, number>();
  /** From when on the log is complete (see perMinute); null: complete. */
  knownSince: number | null = null;

  constructor(
    private readonly keepMs = RATE_MINUTES * MINUTE_MS,
    private readonly max = MAX_ARRIVALS,
  ) {}

  /**
   * True when the id is new. Past `max` ids the earliest added is forgotten, and the log says
   * it is complete only from the newest forgotten time on.
   */
  add(id: string, receivedAt: number): boolean {
    if (this.byId.has(id)) return false;
    this.byId.set(id, receivedAt);
    if (this.byId.size > this.max) {
      const [oldest, at] = this.byId.entries().next().value!;
      this.byId.delete(oldest);
      this.knownSince = Math.max(this.knownSince ?? at, at);
    }
    return true;
  }

  /** Forgets what fell out of the window ending at `now`, so the log stays an hour long. */
  prune(now: number): void {
    for (const [id, at] of this.byId) {
      // Ids come roughly in the order received: stop at the first still inside the window.
      if (at >= now - this.keepMs) break;
      this.byId.delete(id);
    }
  }

  clear(): void {
    this.byId.clear();
    this.knownSince = null;
  }

  get size(): number {
    return this.byId.size;
  }

  perMinute(now: number, minutes = RATE_MINUTES): (number | null)[] {
    return perMinute(this.byId.values(), now, { minutes, knownSince: this.knownSince });
  }
}
