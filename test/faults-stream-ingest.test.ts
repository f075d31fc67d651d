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
} from './utils/burst.js';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';
import { eventually } from './utils/graphql.js';
import { childEnv } from './utils/processes.js';
import { startTestSystem } from './utils/system.js';

/**
 * Fault 5 of issue 3: two `ingest` processes with stream ingest on (INGEST_STREAMS=true, a
 * 1 s claim time); every event is sent twice, with XADD to the stream and PUBLISH on the
 * channel. One ingest is SIGKILLed mid-burst while it holds delivered, unacknowledged stream
 * entries; the survivor claims them. Each event is still one job, one row, one alert.
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
    const [victim, survivor] = await Promise.all([startRole(disposers, 'ingest', childEnv(t.env)), startRole(disposers, 'ingest', childEnv(t.env))]);
    const procs = { survivor: survivor! };
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

    await burst.reached(N / 3);
    await eventually(async () => (await countStored(databaseUrl, t.id)) >= 100, 20_000, '100 rows stored before the kill');
    // Freeze the victim first so the kill lands while it holds entries the group delivered to it
    // (a blocked XREADGROUP is served by Redis even though the process no longer reads).
    const victimConsumer = (consumers: PendingSummary[3]) => (consumers ?? []).find(([name]) => name.includes(`-${victim!.child.pid}-`));
    const pendingOfVictim = async () => {
      const [, , , consumers] = (await redis.xpending(stream, group)) as PendingSummary;
      const mine = victimConsumer(consumers);
      return mine ? Number(mine[1]) : 0;
    };
    let victimPending = 0;
    for (let attempt = 0; attempt < 10 && victimPending === 0; attempt++) {
      victim!.child.kill('SIGSTOP');
      // Frozen between acknowledging and its next read it is served nothing: thaw and try again.
      victimPending = await eventually(pendingOfVictim, 1_500, 'pending').catch(() => 0);
      if (victimPending === 0) {
        victim!.child.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(victimPending, 'the frozen ingest holds unacknowledged entries').toBeGreaterThan(0);
    const atKill = { sent: burst.sent(), stored: await countStored(databaseUrl, t.id) };
    const exit = await victim!.signal('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    await burst.done;

    const counts = await explainFailure(waitForDrained(queue, N, 30_000), procs);
    await explainFailure(waitForTallies([all, filtered], 20_000), procs);
    // The survivor claimed the dead consumer's entries and acknowledged them.
    await explainFailure(
      eventually(async () => ((await redis.xpending(stream, group)) as PendingSummary)[0] === 0, 15_000, 'no pending stream entries'),
      procs,
    );
    const claimedLines = survivor!.output().split('\n').filter((l) => /took over \d+ entries/.test(l));
    const claimed = claimedLines.reduce((n, l) => n + Number(/took over (\d+)/.exec(l)![1]), 0);

    const late = new Tally('replay-after-burst(after:0, amzn)', events, ['AMZN']);
    subscribeTally(disposers, wsUrl, late, '0');
    await waitForTallies([late], 15_000, 500);

    const stored = await storedStats(databaseUrl, t.id, events);
    const reports = [all, filtered, late].map((s) => s.report(stored));
    const streamLength = await redis.xlen(stream);
    console.log(
      summaryLine('fault 5: stream ingest, one of two SIGKILLed', N, stored, reports,
        `sent twice each (XADD + PUBLISH), stream length ${streamLength}; at kill: sent=${atKill.sent} stored=${atKill.stored}, victim held ${victimPending} unacknowledged entries; survivor took over ${claimed}; queue ${JSON.stringify(counts)}; total ${Date.now() - started} ms`),
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
    for (const r of reports) {
      expect(r, r.name).toMatchObject({ received: r.expected, distinct: r.expected, duplicates: 0, missing: 0, unexpected: 0, wrongIds: 0 });
    }
    expect(late.report().increasing).toBe(true);
    for (const s of [all, filtered, late]) expect(s.problems, s.name).toEqual([]);
  }, 90_000);
});
