/**
 * The load generator: real graphql-ws clients (one WebSocket each) and a Redis publisher of
 * contract-shaped detections, plus the tally of every delivery per subscriber.
 */
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { connectionParams } from './credential.js';
import { Samples, sleep, wallNow } from './util.js';

export const SUBSCRIPTION = /* GraphQL */ `
  subscription Bench($filter: PatternFilter) {
    patternAlert(filter: $filter) {
      id
      eventId
      symbol
      pattern
      confidence
      tier
    }
  }
`;

export const PATTERNS = [
  'BreakoutBO',
  'Doji',
  'Hammer',
  'BullFlag',
  'BearFlag',
  'HeadShoulders',
  'DoubleTop',
  'DoubleBottom',
  'CupHandle',
  'AscendingTriangle',
  'DescendingTriangle',
  'Engulfing',
  'MorningStar',
  'EveningStar',
  'ShootingStar',
  'InvertedHammer',
  'RisingWedge',
  'FallingWedge',
  'Pennant',
  'GapUp',
  'GapDown',
  'ThreeWhiteSoldiers',
  'ThreeBlackCrows',
  'Harami',
  'PiercingLine',
  'DarkCloudCover',
  'TweezerTop',
  'TweezerBottom',
  'VolumeSpike',
  'MomentumShift',
] as const;

/** `n` distinct ticker-like symbols (A-Z), the same on every call. */
export function makeSymbols(n: number): string[] {
  const out: string[] = [];
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  for (let i = 0; out.length < n; i++) {
    let s = '';
    let k = i * 7919 + 17; // spread the first letters
    const len = 3 + (i % 2);
    for (let j = 0; j < len; j++) {
      s += letters[k % 26];
      k = Math.floor(k / 26) + j * 31 + i;
    }
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/** Event `i`'s confidence: 0.50 … 0.99, spread evenly (a fifth CRITICAL). */
export const confidenceOf = (i: number) => 0.5 + ((i * 37) % 50) / 100;

/** What a scenario publishes as event `i`: symbol, pattern, and optionally the tier hint. */
export type TierHint = 'daily' | 'intraday' | 'combo';
export type EventOf = (i: number) => readonly [symbol: string, pattern: string, tier?: TierHint];

/** A detection as the detection engine publishes it, stamped with its publish time. */
export function detectionMessage(
  eventId: string,
  symbol: string,
  pattern: string,
  i: number,
  sentAtMs: number,
  tier?: string,
  confidence = confidenceOf(i),
): string {
  return JSON.stringify({
    event_id: eventId,
    symbol,
    pattern,
    ...(tier ? { tier } : {}),
    confidence,
    timeframe: '1d',
    timestamp: sentAtMs / 1000,
    source: 'bench',
    price_at_detection: 100 + (i % 1000) / 10,
    sent_at_ms: sentAtMs,
  });
}

// ---------------------------------------------------------------------------------------------
// Subscribers

export interface SubscriberSet {
  count: number;
  /** Errors reported by subscriptions or connections (each described once). */
  errors: string[];
  /** Connections that closed while the set was open. */
  disconnects: number;
  dispose(): Promise<void>;
}

/** What subscriber `s` subscribes to, when it is not `patternAlert` with a symbol filter. */
export interface SubscriberSpec {
  query: string;
  variables?: Record<string, unknown>;
  /** Its own credential (default: the bench's). */
  token?: string;
  /** The event id in a result's data. */
  eventIdOf(data: unknown): string | undefined;
  /**
   * Subscribers with the same socket number share one WebSocket, opened with the first one's
   * credential (default: a socket of its own).
   */
  socket?: number;
}

/**
 * Opens one graphql-ws client per entry of `filters` (null = no filter), `concurrency` at a time,
 * each connected (connection_ack) and subscribed before this resolves; subscriber `s` connects
 * to `wsUrls[s % wsUrls.length]`. `specOf` replaces the
 * `patternAlert` subscription of every subscriber (`filters` then only counts them).
 */
export async function openSubscribers(
  wsUrls: readonly string[],
  filters: (string[] | null)[],
  onData: (subscriber: number, eventId: string) => void,
  concurrency = 100,
  specOf?: (s: number) => SubscriberSpec,
): Promise<SubscriberSet> {
  const clients: Client[] = [];
  const unsubscribes: (() => void)[] = [];
  const set: SubscriberSet = {
    count: 0,
    errors: [],
    disconnects: 0,
    async dispose() {
      disposing = true;
      for (const u of unsubscribes) u();
      await Promise.allSettled(clients.map(async (c) => c.dispose()));
    },
  };
  let disposing = false;
  const seenErrors = new Set<string>();
  const report = (what: string) => {
    if (!seenErrors.has(what)) {
      seenErrors.add(what);
      set.errors.push(what);
    }
  };

  const connect = (spec: SubscriberSpec, s: number): Promise<Client> => {
    let connected!: () => void;
    let failed!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      connected = resolve;
      failed = reject;
    });
    let wasConnected = false;
    const client = createClient({
      url: wsUrls[s % wsUrls.length]!,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: spec.token ? { authorization: `Bearer ${spec.token}` } : connectionParams,
      // Closes are counted below; the default would print each one.
      onNonLazyError: () => undefined,
      on: {
        connected: () => {
          wasConnected = true;
          connected();
        },
        closed: (event) => {
          const code = (event as { code?: number }).code;
          if (!wasConnected) failed(new Error(`subscriber ${s} could not connect (close code ${code})`));
          else if (!disposing) {
            set.disconnects++;
            report(`connection closed by the server (code ${code})`);
          }
        },
        error: (err) => failed(err instanceof Error ? err : new Error(`subscriber ${s}: connection error`)),
      },
    });
    clients.push(client);
    return ready.then(() => client);
  };
  const sockets = new Map<number, Promise<Client>>();

  const open = async (s: number) => {
    const filter = filters[s] ?? null;
    const spec: SubscriberSpec = specOf?.(s) ?? {
      query: SUBSCRIPTION,
      variables: filter ? { filter: { symbols: filter } } : {},
      eventIdOf: (data) => (data as { patternAlert?: { eventId: string } } | null)?.patternAlert?.eventId,
    };
    // A socket of its own unless the spec names one; -1 - s cannot collide with a named one.
    const key = spec.socket ?? -1 - s;
    let socket = sockets.get(key);
    if (!socket) sockets.set(key, (socket = connect(spec, s)));
    const client = await socket;
    unsubscribes.push(
      client.subscribe(
        { query: spec.query, variables: spec.variables ?? {} },
        {
          next: (result) => {
            const id = spec.eventIdOf(result.data);
            if (id !== undefined) onData(s, id);
            if (result.errors?.length) report(`subscription error: ${result.errors[0]!.message}`);
          },
          error: (err) => {
            if (!disposing) report(`subscription failed: ${err instanceof Error ? err.message : JSON.stringify(err)}`);
          },
          complete: () => undefined,
        },
      ),
    );
    set.count++;
  };

  try {
    for (let next = 0; next < filters.length;) {
      const batch: Promise<void>[] = [];
      for (; batch.length < concurrency && next < filters.length; next++) batch.push(open(next));
      await Promise.all(batch);
    }
  } catch (err) {
    await set.dispose();
    throw err;
  }
  return set;
}

// ---------------------------------------------------------------------------------------------
// Delivery tally

/** Growable typed arrays indexed by event number. */
class GrowF64 {
  data = new Float64Array(1024).fill(NaN);
  set(i: number, v: number) {
    while (i >= this.data.length) {
      const next = new Float64Array(this.data.length * 2).fill(NaN);
      next.set(this.data);
      this.data = next;
    }
    this.data[i] = v;
  }
  get(i: number): number {
    return i < this.data.length ? this.data[i]! : NaN;
  }
}

/**
 * Every delivery of one run, per subscriber and event: first deliveries (with their latency),
 * duplicates, deliveries of events the subscriber did not ask for, and ids from elsewhere.
 * Measured events have ids `<tag>-e<i>`, warm-up events `<tag>-w<k>`.
 */
export class DeliveryRecorder {
  readonly sentAt = new GrowF64();
  readonly latencies = new Samples();
  private readonly counts: Uint8Array[];
  readonly warmed: Uint8Array;
  warmedCount = 0;
  /** First deliveries of events the subscriber expects. */
  delivered = 0;
  duplicates = 0;
  /** Deliveries of events that do not match the subscriber's filter. */
  unexpected = 0;
  /** Ids that are neither this run's events nor its warm-ups. */
  foreign = 0;
  lastDeliveryAt = 0;
  published = 0;
  /** Events delivered to at least one subscriber (the events the system handled). */
  distinctEvents = 0;
  /** When event i first reached any subscriber (wall ms, the bench clock). */
  readonly firstDeliveryAt = new GrowF64();
  private readonly measured: string;
  private readonly warm: string;

  constructor(
    readonly tag: string,
    readonly subscribers: number,
    private readonly matches: (subscriber: number, event: number) => boolean,
  ) {
    this.counts = Array.from({ length: subscribers }, () => new Uint8Array(1024));
    this.warmed = new Uint8Array(subscribers);
    this.measured = `${tag}-e`;
    this.warm = `${tag}-w`;
  }

  /** Event number of one of this run's measured ids, or -1. */
  indexOf(eventId: string): number {
    return eventId.startsWith(this.measured) ? Number(eventId.slice(this.measured.length)) : -1;
  }

  eventId(i: number): string {
    return `${this.measured}${i}`;
  }
  warmId(k: number): string {
    return `${this.warm}${k}`;
  }

  /** Call right before publishing event `i`; returns the stamp to put in the message. */
  stamp(i: number): number {
    const t = wallNow();
    this.sentAt.set(i, t);
    if (i >= this.published) this.published = i + 1;
    return t;
  }

  onDelivery = (s: number, eventId: string): void => {
    const now = wallNow();
    if (eventId.startsWith(this.measured)) {
      const i = Number(eventId.slice(this.measured.length));
      let c = this.counts[s]!;
      if (i >= c.length) {
        let size = c.length;
        while (i >= size) size *= 2;
        const grown = new Uint8Array(size);
        grown.set(c);
        this.counts[s] = c = grown;
      }
      if (c[i]! > 0) {
        this.duplicates++;
        if (c[i]! < 255) c[i]!++;
        return;
      }
      c[i] = 1;
      if (!this.matches(s, i)) {
        this.unexpected++;
        return;
      }
      this.delivered++;
      this.lastDeliveryAt = now;
      if (Number.isNaN(this.firstDeliveryAt.get(i))) {
        this.firstDeliveryAt.set(i, now);
        this.distinctEvents++;
      }
      this.latencies.push(now - this.sentAt.get(i));
    } else if (eventId.startsWith(this.warm)) {
      if (!this.warmed[s]) {
        this.warmed[s] = 1;
        this.warmedCount++;
      }
    } else this.foreign++;
  };

  /** Deliveries the subscribers should get for what was published. */
  expectedTotal(): number {
    let n = 0;
    for (let s = 0; s < this.subscribers; s++) for (let i = 0; i < this.published; i++) if (this.matches(s, i)) n++;
    return n;
  }

  /** Expected but never delivered. */
  lost(): number {
    let n = 0;
    for (let s = 0; s < this.subscribers; s++) {
      const c = this.counts[s]!;
      for (let i = 0; i < this.published; i++) if (this.matches(s, i) && !(i < c.length && c[i]! > 0)) n++;
    }
    return n;
  }
}

// ---------------------------------------------------------------------------------------------
// Publisher

export interface PublishResult {
  published: number;
  /** From the first publish to the last (ms). */
  durationMs: number;
  /** How late each publish went out against its schedule (ms): the generator's own health. */
  lag: Samples;
}

export class Publisher {
  readonly redis: Redis;
  constructor(redisUrl: string) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  }

  close(): void {
    this.redis.disconnect();
  }

  /**
   * `n` events at `rate` per second, each scheduled at t0 + i/rate (absolute, so lateness does
   * not accumulate as drift); whatever is due is sent at once.
   */
  async fixedRate(channel: string, n: number, rate: number, rec: DeliveryRecorder, event: EventOf): Promise<PublishResult> {
    const lag = new Samples();
    const interval = 1000 / rate;
    const t0 = performance.now();
    const sends: Promise<unknown>[] = [];
    let i = 0;
    while (i < n) {
      const now = performance.now();
      const due = Math.min(n, Math.floor((now - t0) / interval) + 1);
      for (; i < due; i++) {
        const [symbol, pattern, tier] = event(i);
        lag.push(performance.now() - (t0 + i * interval));
        const sent = rec.stamp(i);
        sends.push(this.redis.publish(channel, detectionMessage(rec.eventId(i), symbol, pattern, i, sent, tier)));
      }
      if (sends.length > 1000) await Promise.all(sends.splice(0));
      if (i < n) await sleep(Math.max(0, t0 + i * interval - performance.now()));
    }
    await Promise.all(sends);
    return { published: n, durationMs: performance.now() - t0, lag };
  }

  /** `n` events at once: one pipeline after another, not waiting in between. */
  async burst(channel: string, n: number, rec: DeliveryRecorder, event: EventOf, chunk = 1000): Promise<PublishResult> {
    const t0 = performance.now();
    const execs: Promise<unknown>[] = [];
    for (let start = 0; start < n; start += chunk) {
      const pipeline = this.redis.pipeline();
      for (let i = start; i < Math.min(n, start + chunk); i++) {
        const [symbol, pattern, tier] = event(i);
        pipeline.publish(channel, detectionMessage(rec.eventId(i), symbol, pattern, i, rec.stamp(i), tier));
      }
      execs.push(pipeline.exec());
    }
    await Promise.all(execs);
    return { published: n, durationMs: performance.now() - t0, lag: new Samples() };
  }

  /**
   * As fast as this publisher can for `seconds`: pipelines of `batch`, each sent when the
   * previous one is acknowledged (or paced to `rate` per second when rate > 0). `xadd` appends to
   * the stream named like the channel (field `message`), as a publisher using streams does.
   */
  async maxRate(
    channel: string,
    seconds: number,
    batch: number,
    rate: number,
    rec: DeliveryRecorder,
    event: EventOf,
    via: 'publish' | 'xadd' = 'publish',
  ): Promise<PublishResult> {
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    const lag = new Samples();
    let i = 0;
    while (performance.now() < end) {
      if (rate > 0) {
        const due = Math.floor(((performance.now() - t0) * rate) / 1000) + 1;
        if (due <= i) {
          await sleep(Math.max(0, t0 + (i * 1000) / rate - performance.now()));
          continue;
        }
      }
      const pipeline = this.redis.pipeline();
      const stop = rate > 0 ? Math.min(i + batch, Math.floor(((performance.now() - t0) * rate) / 1000) + 1) : i + batch;
      for (; i < stop; i++) {
        const [symbol, pattern, tier] = event(i);
        if (rate > 0) lag.push(performance.now() - (t0 + (i * 1000) / rate));
        const message = detectionMessage(rec.eventId(i), symbol, pattern, i, rec.stamp(i), tier);
        if (via === 'xadd') pipeline.xadd(channel, '*', 'message', message);
        else pipeline.publish(channel, message);
      }
      await pipeline.exec();
    }
    return { published: i, durationMs: performance.now() - t0, lag };
  }

  /**
   * Unmeasured load before the measurement (JIT, pools, caches): `seconds` at `rate` of
   * `event(j)`, warm-up ids continuing from `firstId`. Returns the next free warm-up id.
   */
  async warmLoad(
    channel: string,
    rec: DeliveryRecorder,
    event: EventOf,
    rate: number,
    seconds: number,
    firstId: number,
  ): Promise<number> {
    const n = Math.round(rate * seconds);
    const t0 = performance.now();
    for (let j = 0; j < n; j++) {
      const k = firstId + j;
      const [symbol, pattern, tier] = event(j);
      void this.redis.publish(channel, detectionMessage(rec.warmId(k), symbol, pattern, k, wallNow(), tier));
      const next = t0 + ((j + 1) * 1000) / rate;
      if (next > performance.now() + 1) await sleep(next - performance.now());
    }
    return firstId + n;
  }

  /**
   * Warm-up events, one per symbol, ids `<tag>-w<k>`; with `tiers`, one per symbol and tier, at
   * confidence 0.99 (CRITICAL), so that subscribers filtering on a tier and a high priority get one.
   */
  async warmUp(
    channel: string,
    rec: DeliveryRecorder,
    symbols: string[],
    round: number,
    tiers?: readonly TierHint[],
  ): Promise<void> {
    const pipeline = this.redis.pipeline();
    const events = symbols.flatMap((symbol) =>
      (tiers ?? [undefined]).map((tier): readonly [string, TierHint | undefined] => [symbol, tier]),
    );
    events.forEach(([symbol, tier], j) => {
      const k = 1_000_000 + round * events.length + j;
      const message = tier
        ? detectionMessage(rec.warmId(k), symbol, 'Warmup', k, wallNow(), tier, 0.99)
        : detectionMessage(rec.warmId(k), symbol, 'Warmup', k, wallNow());
      pipeline.publish(channel, message);
    });
    await pipeline.exec();
  }
}
