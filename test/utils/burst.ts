/**
 * Tools for the fault tests: a burst of detections with distinct event ids, published at a
 * steady rate (so a fault can be injected in the middle), the database's view of it, and a
 * per-subscriber tally of what arrived (received, distinct, duplicates, missing).
 */
import { Queue } from 'bullmq';
import { expect } from 'vitest';
import { Redis } from 'ioredis';
import pg from 'pg';
import { QUEUE_NAMES } from '../../src/queues/queues.js';
import type { Disposers } from './env.js';
import { createWsClient, eventually, gql } from './graphql.js';
import { spawnPatternwire, type PatternwireProcess } from './processes.js';

export const BURST_SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'TSLA', 'AMZN'] as const;
const PATTERNS = ['BreakoutBO', 'Doji', 'Hammer', 'BullFlag'] as const;

export interface BurstEvent {
  eventId: string;
  symbol: string;
  pattern: string;
  json: string;
}

/** `n` detections with event ids `<prefix>-<i>`, symbols cycling through BURST_SYMBOLS. */
export function makeBurst(prefix: string, n: number): BurstEvent[] {
  const now = Date.now() / 1000;
  return Array.from({ length: n }, (_, i) => {
    const symbol = BURST_SYMBOLS[i % BURST_SYMBOLS.length]!;
    const pattern = PATTERNS[i % PATTERNS.length]!;
    const eventId = `${prefix}-${i}`;
    const json = JSON.stringify({
      event_id: eventId,
      pattern,
      symbol,
      confidence: 0.6 + (i % 40) / 100,
      timeframe: i % 2 ? '5min' : '1d',
      timestamp: now - (n - i) / 1000,
      source: 'fault-test',
    });
    return { eventId, symbol, pattern, json };
  });
}

export type Transport = 'publish' | 'xadd';

export interface Burst {
  /** How many events have been sent so far. */
  sent(): number;
  /** Resolves once at least `n` events have been sent. */
  reached(n: number): Promise<void>;
  /** Stops sending once `n` events have been sent, until `resume()`. */
  pauseAt(n: number): void;
  resume(): void;
  /** Resolves when every event has been sent. */
  done: Promise<void>;
}

/**
 * Sends `events` on `channel` in chunks of `chunk` (one pipeline each), about `ratePerSec` a
 * second, by every transport listed: `publish` (pub/sub) and/or `xadd` (the stream of the same
 * name, payload in field `message`). Runs in the background; the caller injects its fault
 * when `reached(k)` resolves, while the rest is still being sent.
 */
export function startBurst(
  redis: Redis,
  channel: string,
  events: BurstEvent[],
  { ratePerSec = 2_000, chunk = 50, via = ['publish'] as Transport[] } = {},
): Burst {
  let sent = 0;
  let pauseAt = Infinity;
  let resumed: (() => void) | null = null;
  const waiters: { n: number; resolve(): void }[] = [];
  const wake = () => {
    for (const w of [...waiters]) {
      if (sent >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const done = (async () => {
    let started = Date.now();
    let base = 0;
    while (sent < events.length) {
      if (sent >= pauseAt) {
        await new Promise<void>((resolve) => (resumed = resolve));
        // Resume at the same rate from here, not in a rush to catch up.
        started = Date.now();
        base = sent;
        continue;
      }
      const slice = events.slice(sent, Math.min(sent + chunk, pauseAt));
      const pipe = redis.pipeline();
      for (const e of slice) {
        // Stream first, as a durable publisher would: the entry exists before anyone hears it.
        if (via.includes('xadd')) pipe.xadd(channel, '*', 'message', e.json);
        if (via.includes('publish')) pipe.publish(channel, e.json);
      }
      const results = await pipe.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0] as Error;
      sent += slice.length;
      wake();
      const wait = started + ((sent - base) / ratePerSec) * 1000 - Date.now();
      // Pacing the load generator to `ratePerSec`, so a fault lands mid-burst; not a wait for a condition.
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  done.catch(() => undefined);
  return {
    pauseAt(n) {
      pauseAt = n;
    },
    resume() {
      pauseAt = Infinity;
      resumed?.();
      resumed = null;
    },
    sent: () => sent,
    reached: (n) =>
      new Promise<void>((resolve, reject) => {
        if (sent >= n) return resolve();
        waiters.push({ n, resolve });
        done.then(() => (sent >= n ? resolve() : reject(new Error(`burst ended at ${sent} < ${n}`))), reject);
      }),
    done,
  };
}

export interface StoredStats {
  rows: number;
  distinct: number;
  /** Published event ids with no row. */
  missing: number;
  /** eventId → stored id, for checking what subscribers got. */
  idByEventId: Map<string, string>;
  /** Stored ids in increasing order. */
  idsInOrder: string[];
}

/** What `pattern_detections` holds for the burst (event ids starting with `prefix-`). */
export async function storedStats(databaseUrl: string, prefix: string, expected: readonly BurstEvent[]): Promise<StoredStats> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ id: string; event_id: string }>(
      `select id::text as id, event_id from pattern_detections where event_id like $1 order by pattern_detections.id`,
      [`${prefix}-%`],
    );
    const idByEventId = new Map(rows.map((r) => [r.event_id, r.id]));
    return {
      rows: rows.length,
      distinct: idByEventId.size,
      missing: expected.filter((e) => !idByEventId.has(e.eventId)).length,
      idByEventId,
      idsInOrder: rows.map((r) => r.id),
    };
  } finally {
    await c.end();
  }
}

/** How many rows the burst has stored so far (cheap, for "wait until half is stored"). */
export async function countStored(databaseUrl: string, prefix: string): Promise<number> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: string }>(`select count(*) as n from pattern_detections where event_id like $1`, [
      `${prefix}-%`,
    ]);
    return Number(rows[0]!.n);
  } finally {
    await c.end();
  }
}

export interface ReceivedAlert {
  id: string;
  eventId: string;
  symbol: string;
}

export interface TallyReport {
  name: string;
  expected: number;
  received: number;
  distinct: number;
  duplicates: number;
  missing: number;
  /** Received, but not a detection the subscriber should have had (wrong symbol, not in the burst). */
  unexpected: number;
  /** Received with an id that is not the stored row's id for that event. */
  wrongIds: number;
  /** Ids in strictly increasing order of arrival. */
  increasing: boolean;
}

/** What one subscriber received, against what it should have received. */
export class Tally {
  readonly alerts: ReceivedAlert[] = [];
  /** Subscription errors and unexpected completions. */
  readonly problems: unknown[] = [];
  lastAt = 0;
  readonly expected: Set<string>;

  constructor(
    readonly name: string,
    events: readonly BurstEvent[],
    readonly symbols: readonly string[] | null = null,
  ) {
    const wanted = symbols?.map((s) => s.toUpperCase());
    this.expected = new Set(events.filter((e) => !wanted || wanted.includes(e.symbol)).map((e) => e.eventId));
  }

  add(alert: ReceivedAlert): void {
    this.alerts.push(alert);
    this.lastAt = Date.now();
  }

  distinct(): number {
    return new Set(this.alerts.map((a) => a.eventId)).size;
  }

  /** Every expected event has arrived at least once. */
  complete(): boolean {
    if (this.alerts.length < this.expected.size) return false;
    const got = new Set(this.alerts.map((a) => a.eventId));
    for (const e of this.expected) if (!got.has(e)) return false;
    return true;
  }

  report(stored?: StoredStats): TallyReport {
    const got = new Set(this.alerts.map((a) => a.eventId));
    let increasing = true;
    for (let i = 1; i < this.alerts.length; i++) {
      if (BigInt(this.alerts[i]!.id) <= BigInt(this.alerts[i - 1]!.id)) increasing = false;
    }
    return {
      name: this.name,
      expected: this.expected.size,
      received: this.alerts.length,
      distinct: got.size,
      duplicates: this.alerts.length - got.size,
      missing: [...this.expected].filter((e) => !got.has(e)).length,
      unexpected: [...got].filter((e) => !this.expected.has(e)).length,
      wrongIds: stored ? this.alerts.filter((a) => stored.idByEventId.get(a.eventId) !== a.id).length : 0,
      increasing,
    };
  }
}

/** Waits until every tally has everything it expects, then until none has received anything for `quietMs` (late duplicates). */
export async function waitForTallies(tallies: Tally[], timeoutMs: number, quietMs = 1_000): Promise<void> {
  await eventually(
    () => tallies.every((t) => t.complete()),
    timeoutMs,
    `every subscriber to have every alert (${tallies.map((t) => `${t.name}: ${t.distinct()}/${t.expected.size}`).join(', ')})`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; now ${tallies.map((t) => `${t.name}: ${t.distinct()}/${t.expected.size}`).join(', ')}`);
  });
  await eventually(() => tallies.every((t) => Date.now() - t.lastAt >= quietMs), quietMs * 10, 'subscribers to go quiet');
}

/** A test-side view of the env's detections queue. */
export function detectionsQueue(disposers: Disposers, redisUrl: string, prefix: string): Queue {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE_NAMES.detections, { connection, prefix });
  disposers.add(async () => {
    await queue.close();
    connection.disconnect();
  });
  return queue;
}

/**
 * Waits until nothing is waiting, delayed or active and the completed jobs carry `n` detections
 * — including the jobs of a killed worker, which come back only through the stalled-job check.
 * Returns the job counts, with `events`: the detections in completed jobs.
 */
export async function waitForDrained(queue: Queue, n: number, timeoutMs: number): Promise<Record<string, number>> {
  let last: Record<string, number> = {};
  await eventually(
    async () => {
      last = await queue.getJobCounts('completed', 'active', 'waiting', 'delayed', 'prioritized', 'failed');
      const idle = last['active'] === 0 && last['waiting'] === 0 && last['delayed'] === 0 && last['prioritized'] === 0;
      if (!idle) return false;
      last['events'] = await completedEvents(queue);
      return last['events'] >= n;
    },
    timeoutMs,
    'the detections queue to drain',
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(last)}`);
  });
  return last;
}

/** Detections carried by the completed jobs (a `patterns` job carries several). */
async function completedEvents(queue: Queue): Promise<number> {
  let events = 0;
  for (let start = 0; ; start += 1_000) {
    const jobs = await queue.getJobs(['completed'], start, start + 999, true);
    for (const j of jobs) events += j.name === 'detections' ? (j.data as { events: unknown[] }).events.length : 1;
    if (jobs.length < 1_000) return events;
  }
}

/** Completed jobs that ran more than once (retried after an error, or re-run after stalling). */
export async function rerunJobs(queue: Queue): Promise<{ retried: number; stalled: number }> {
  let retried = 0;
  let stalled = 0;
  for (let start = 0; ; start += 1_000) {
    const jobs = await queue.getJobs(['completed'], start, start + 999, true);
    for (const j of jobs) {
      if (j.attemptsStarted > 1) retried++;
      if (j.stalledCounter > 0) stalled++;
    }
    if (jobs.length < 1_000) break;
  }
  return { retried, stalled };
}

/** How many live subscriptions the API at `httpUrl` holds (every topic). */
export async function subscriberCount(httpUrl: string): Promise<number> {
  const { body } = await gql<{ systemHealth: { pipeline: { subscribers: number } } }>(
    httpUrl,
    `{ systemHealth { pipeline { subscribers } } }`,
  );
  return body.data?.systemHealth.pipeline.subscribers ?? 0;
}

/** Waits until the API at `httpUrl` holds at least `n` live subscriptions, so a publish after this is heard. */
export async function subscribersAtLeast(httpUrl: string, n: number, timeoutMs = 15_000): Promise<void> {
  await eventually(
    async () => {
      const { body } = await gql<{ systemHealth: { pipeline: { subscribers: number } } }>(
        httpUrl,
        `{ systemHealth { pipeline { subscribers } } }`,
      );
      return (body.data?.systemHealth.pipeline.subscribers ?? 0) >= n;
    },
    timeoutMs,
    `${n} subscriber(s) on ${httpUrl}`,
  );
}

/** One line with every count, for the issue note. */
export function summaryLine(label: string, published: number, stored: StoredStats, reports: TallyReport[], extra = ''): string {
  const subs = reports
    .map(
      (r) =>
        `${r.name}: expected=${r.expected} received=${r.received} distinct=${r.distinct} duplicates=${r.duplicates} missing=${r.missing}`,
    )
    .join(' | ');
  return `[${label}] published=${published} stored=${stored.rows} distinctStored=${stored.distinct} missingStored=${stored.missing} || ${subs}${extra ? ` || ${extra}` : ''}`;
}

export interface Role {
  proc: PatternwireProcess;
  command: string;
}

/**
 * Starts `patternwire <command>` as a child (LOG_LEVEL=info so its start-up line shows) and
 * resolves once it says it is running.
 */
export async function startRole(
  disposers: Disposers,
  command: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 45_000,
): Promise<PatternwireProcess> {
  const proc = spawnPatternwire(disposers, command, { ...env, LOG_LEVEL: 'info' });
  await proc.waitForLine(command === 'api' ? /GraphiQL at http:/ : new RegExp(`Patternwire ${command} running`), timeoutMs);
  return proc;
}

const ALERT_FIELDS = 'id eventId symbol';

/**
 * A plain graphql-ws subscription (no reconnect) feeding `tally`; filtered by the tally's
 * symbols (given in lower case, to exercise case-insensitive matching), from `after` if set.
 */
export function subscribeTally(disposers: Disposers, wsUrl: string, tally: Tally, after: string | null = null): void {
  const client = createWsClient(disposers, wsUrl, { onNonLazyError: (e) => tally.problems.push(e) });
  const filter = tally.symbols ? { symbols: tally.symbols.map((s) => s.toLowerCase()) } : null;
  client.subscribe<{ patternAlert: ReceivedAlert }>(
    {
      query: `subscription($filter: PatternFilter, $after: ID) { patternAlert(filter: $filter, after: $after) { ${ALERT_FIELDS} } }`,
      variables: { filter, after },
    },
    {
      next: (r) => {
        if (r.errors?.length) tally.problems.push(r.errors);
        else if (r.data) tally.add(r.data.patternAlert);
      },
      error: (e) => tally.problems.push(e),
      complete: () => tally.problems.push('completed'),
    },
  );
}

/**
 * Waits for `work`, failing at once if one of `procs` exits meanwhile (none of them should),
 * and adds the tail of every child's output to a failure, so a crashed process explains itself.
 */
export async function explainFailure<T>(work: Promise<T>, procs: Record<string, PatternwireProcess>): Promise<T> {
  let settled = false;
  const died = Promise.race(
    Object.entries(procs).map(([name, p]) =>
      p.exit().then((e) => {
        if (!settled) throw new Error(`${name} exited (code ${e.code}, signal ${e.signal}) while waiting`);
        return new Promise<never>(() => undefined);
      }),
    ),
  );
  try {
    return await Promise.race([work, died]);
  } catch (err) {
    const outputs = Object.entries(procs)
      .map(([name, p]) => {
        const state =
          p.child.exitCode !== null || p.child.signalCode !== null
            ? `exited (${p.child.exitCode ?? p.child.signalCode})`
            : 'running';
        return `--- ${name}: ${state}\n${p.output().slice(-2_000)}`;
      })
      .join('\n');
    (err as Error).message += `\n${outputs}`;
    throw err;
  } finally {
    settled = true;
  }
}

/** Names of the children that are no longer running. */
/** Every subscriber received each detection it expected exactly once, and nothing else. */
export function expectExactlyOnce(reports: TallyReport[]): void {
  for (const r of reports) {
    expect(r, r.name).toMatchObject({
      received: r.expected,
      distinct: r.expected,
      duplicates: 0,
      missing: 0,
      unexpected: 0,
      wrongIds: 0,
    });
  }
}

export function deadProcesses(procs: Record<string, PatternwireProcess>): string[] {
  return Object.entries(procs)
    .filter(([, p]) => p.child.exitCode !== null || p.child.signalCode !== null)
    .map(([name, p]) => `${name} (${p.child.exitCode ?? p.child.signalCode}): ${p.output().slice(-1_000)}`);
}
