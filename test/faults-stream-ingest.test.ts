import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  countStored,
  deadProcesses,
  explainFailure,
  makeBurst,
  startBurst,
  startRole,
  storedStats,
  subscribeTally,
  subscribersAtLeast,
  summaryLine,
  Tally,
  waitForDrained,
  waitForTallies,
  expectExactlyOnce,
} from './utils/burst.js';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';
import { eventually } from './utils/graphql.js';
import { childEnv } from './utils/processes.js';
import { startTestSystem } from './utils/system.js';

/**
 * Fault 5 of issue 3: two `ingest` processes with stream ingest on (INGEST_STREAMS=true, a
 * 1 s claim time); every event is sent twice, with XADD to the stream and PUBLISH on the
 * channel. One ingest is SIGKILLed mid-burst while it holds delivered, unacknowledged stream
 * entries (frozen first, killed once Redis shows it holds some); the survivor claims them. Each event is still one job, one row, one alert.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

type PendingSummary = [count: number, min: string | null, max: string | null, consumers: [name: string, count: string][] | null];

describe('fault: one of two stream-reading ingest processes is killed mid-burst', () => {
  it('stores and delivers every event exactly once, and leaves nothing unacknowledged', async () => {
    const started = Date.now();
    const t = await createTestEnv(disposers, 'fkstream', { INGEST_STREAMS: 'true', INGEST_STREAM_CLAIM_MS: '1000' });
    const stream = t.config.channels.patterns;
    const group = t.config.streams.group;
    const redis = new Redis(REDIS_URL);
    disposers.add(async () => {
      await redis.del(...Object.values(t.config.channels));
      redis.disconnect();
    });
    const databaseUrl = t.env['DATABASE_URL']!;
    // API and worker in this process; the two ingest processes are children.
    const system = await startTestSystem(disposers, t.config, { api: true, worker: true, migrate: true });
    const [victim, survivor] = await Promise.all([
      startRole(disposers, 'ingest', childEnv(t.env)),
      startRole(disposers, 'ingest', childEnv(t.env)),
    ]);
    const procs = { survivor: survivor };
    const { httpUrl, wsUrl } = system;

    const N = 2_000;
    const events = makeBurst(t.id, N);
    const all = new Tally('live-all', events);
    const filtered = new Tally('live-amzn', events, ['AMZN']);
    subscribeTally(disposers, wsUrl, all);
    subscribeTally(disposers, wsUrl, filtered);
    await subscribersAtLeast(httpUrl, 2);

    const queue = system.queues.detections;
    const burst = startBurst(redis, stream, events, { ratePerSec: 500, via: ['xadd', 'publish'] });
    // Hold the rest back until the fault is arranged: a frozen ingest is handed entries only
    // while entries are still being added, so the burst must not end first on a slow machine.
    const HELD_BACK_AT = Math.floor(N / 3);
    burst.pauseAt(HELD_BACK_AT);
    await burst.reached(HELD_BACK_AT);
    await eventually(async () => (await countStored(databaseUrl, t.id)) >= 100, 20_000, '100 rows stored before the kill');

    // Freeze the victim, then add a few entries: if it was blocked in XREADGROUP, Redis serves
    // it even though the process no longer reads, and the entries sit in its pending list. If it
    // was not (between reads, or its block just expired), the survivor gets them all: thaw, retry.
    const pendingOfVictim = async () => {
      const [, , , consumers] = (await redis.xpending(stream, group)) as PendingSummary;
      const mine = (consumers ?? []).find(([name]) => name.includes(`-${victim.child.pid}-`));
      return mine ? Number(mine[1]) : 0;
    };
    // Every entry added so far has been delivered to a consumer.
    const allDelivered = async () => {
      const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
      const info = groups
        .map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]])))
        .find((g) => g['name'] === group);
      const [newest] = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
      return info !== undefined && newest !== undefined && info['last-delivered-id'] === newest[0];
    };
    const maxQueued = t.config.streams.maxQueuedJobs;
    const ATTEMPTS = 10;
    const CHUNK = 20;
    let victimPending = 0;
    let attempts = 0;
    for (let attempt = 1; attempt <= ATTEMPTS && victimPending === 0; attempt++) {
      attempts = attempt;
      // Both ingests idle: all read and acknowledged, and the queue below the bound at which
      // they stop reading — so each is (almost certainly) blocked in XREADGROUP.
      await eventually(
        async () =>
          (await allDelivered()) &&
          ((await redis.xpending(stream, group)) as PendingSummary)[0] === 0 &&
          Object.values(await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed')).reduce((a, b) => a + b, 0) <
            maxQueued,
        20_000,
        `attempt ${attempt}: both ingests to have read and acknowledged everything sent`,
      );
      victim.child.kill('SIGSTOP');
      const from = burst.sent();
      burst.resume();
      burst.pauseAt(from + CHUNK); // before the resumed loop runs: it sends just this chunk
      const outcome = await eventually(
        async () => {
          // Delivered first, then pending: once all is delivered the frozen victim's count can
          // no longer grow, so a 0 after that is final (the survivor claims only after 1 s idle).
          const delivered = burst.sent() >= from + CHUNK && (await allDelivered());
          const held = await pendingOfVictim();
          if (held > 0) return { held };
          return delivered ? { held: 0 } : null;
        },
        20_000,
        `attempt ${attempt}: the ${CHUNK} entries added with the victim frozen to be delivered`,
      );
      victimPending = outcome.held;
      if (victimPending === 0) victim.child.kill('SIGCONT');
    }
    if (victimPending === 0) {
      throw new Error(`precondition not arranged: in ${ATTEMPTS} attempts the frozen ingest was never handed a stream entry`);
    }
    const atKill = { sent: burst.sent(), stored: await countStored(databaseUrl, t.id) };
    const exit = await victim.signal('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    burst.resume();
    await burst.done;

    const counts = await explainFailure(waitForDrained(queue, N, 30_000), procs);
    await explainFailure(waitForTallies([all, filtered], 20_000), procs);
    // The survivor claimed the dead consumer's entries and acknowledged them.
    await explainFailure(
      eventually(
        async () => ((await redis.xpending(stream, group)) as PendingSummary)[0] === 0,
        15_000,
        'no pending stream entries',
      ),
      procs,
    );
    const claimedLines = survivor
      .output()
      .split('\n')
      .filter((l) => /took over \d+ entries/.test(l));
    const claimed = claimedLines.reduce((n, l) => n + Number(/took over (\d+)/.exec(l)![1]), 0);

    const late = new Tally('replay-after-burst(after:0, amzn)', events, ['AMZN']);
    subscribeTally(disposers, wsUrl, late, '0');
    await waitForTallies([late], 15_000, 500);

    const stored = await storedStats(databaseUrl, t.id, events);
    const reports = [all, filtered, late].map((s) => s.report(stored));
    const streamLength = await redis.xlen(stream);
    console.log(
      summaryLine(
        'fault 5: stream ingest, one of two SIGKILLed',
        N,
        stored,
        reports,
        `sent twice each (XADD + PUBLISH), stream length ${streamLength}; at kill: sent=${atKill.sent} stored=${atKill.stored}, victim held ${victimPending} unacknowledged entries (frozen ${attempts}x); survivor took over ${claimed}; queue ${JSON.stringify(counts)}; total ${Date.now() - started} ms`,
      ),
    );

    expect(atKill.sent).toBeLessThan(N);
    expect(streamLength).toBe(N);
    expect(claimed).toBeGreaterThanOrEqual(victimPending);
    expect(deadProcesses(procs)).toEqual([]);
    expect(stored).toMatchObject({ rows: N, distinct: N, missing: 0 });
    // Each event reaches an intake three times (two pub/sub listeners and the stream): the jobs
    // carry the copies, the database stores one (rows = distinct = N above).
    expect(counts['events']).toBeGreaterThanOrEqual(N);
    expect(counts['failed']).toBe(0);
    expectExactlyOnce(reports);
    expect(late.report().increasing).toBe(true);
    for (const s of [all, filtered, late]) expect(s.problems, s.name).toEqual([]);
  }, 90_000);
});
