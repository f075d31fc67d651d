import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { createAlertClient } from '../src/client/alert-client.js';
import {
  countStored,
  deadProcesses,
  explainFailure,
  detectionsQueue,
  makeBurst,
  rerunJobs,
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
import { childEnv, type PatternwireProcess } from './utils/processes.js';
import { startTestSystem } from './utils/system.js';

/**
 * Fault 1 of issue 3: `kill -9` of a worker process in the middle of a 5,000-event burst while
 * it holds jobs; a second worker takes over. The dead worker's jobs come back through BullMQ's
 * stalled-job check (lock 15 s, check every 5 s); a row it stored but did not get to publish
 * is above the publication cursor, so the next batch publishes it first, in id order.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

describe('fault: a worker is killed with SIGKILL mid-burst', () => {
  it('stores every detection once and delivers each to every subscriber once', async () => {
    const started = Date.now();
    const t = await createTestEnv(disposers, 'fkworker');
    const databaseUrl = t.env['DATABASE_URL']!;
    // API and ingest in this process (they are not what fails); the workers are children. Until
    // the kill only the victim runs, so whatever is active then is its work in flight.
    const system = await startTestSystem(disposers, t.config, { api: true, ingest: true, migrate: true });
    const victim = await startRole(disposers, 'worker', childEnv(t.env));
    const procs: Record<string, PatternwireProcess> = {};
    const { httpUrl, wsUrl } = system;

    const N = 5_000;
    const events = makeBurst(t.id, N);
    const all = new Tally('live-all', events);
    const filtered = new Tally('live-aapl+nvda', events, ['AAPL', 'NVDA']);
    const helper = new Tally('alert-client(after:0)', events);
    subscribeTally(disposers, wsUrl, all);
    subscribeTally(disposers, wsUrl, filtered);
    const client = createAlertClient({
      url: wsUrl,
      after: '0',
      selection: 'id eventId symbol',
      webSocketImpl: WebSocket,
      onAlert: (a) => helper.add(a as never),
      onError: (e) => helper.problems.push(e),
    });
    disposers.add(() => client.close());
    await subscribersAtLeast(httpUrl, 3);

    const queue = detectionsQueue(disposers, REDIS_URL, t.config.queuePrefix);
    const publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    const burst = startBurst(publisher, t.config.channels.patterns, events, { ratePerSec: 2_500 });

    // Mid-burst: a good part published and stored, the victim holding jobs.
    await burst.reached(N / 2);
    await eventually(async () => (await countStored(databaseUrl, t.id)) >= 500, 20_000, '500 rows stored before the kill');
    // A job lasts milliseconds (it carries a group of detections): freeze the victim, and kill it
    // only when, frozen, it still holds jobs — a frozen worker can finish none of them.
    const active = async () => (await queue.getJobCounts('active'))['active'] ?? 0;
    let held = 0;
    for (let attempt = 0; attempt < 50 && held === 0; attempt++) {
      victim.child.kill('SIGSTOP');
      held = await active();
      if (held === 0) {
        victim.child.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
      }
    }
    expect(held, 'the frozen victim holds jobs').toBeGreaterThan(0);
    const jobsAtKill = await queue.getJobCounts('active', 'waiting');
    const atKill = { sent: burst.sent(), stored: await countStored(databaseUrl, t.id), active: jobsAtKill['active'], waiting: jobsAtKill['waiting'] };
    const killedAt = Date.now();
    const exit = await victim.signal('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    procs['survivor'] = await startRole(disposers, 'worker', childEnv(t.env));
    await burst.done;

    // Everything completes, including the killed worker's jobs (stalled → back in the queue).
    const counts = await explainFailure(waitForDrained(queue, N, 40_000), procs);
    const recoveredMs = Date.now() - killedAt;
    await explainFailure(waitForTallies([all, filtered, helper], 15_000), procs);

    // A subscriber that starts after the burst replays all of it, in id order.
    const late = new Tally('replay-after-burst(after:0, tsla)', events, ['TSLA']);
    subscribeTally(disposers, wsUrl, late, '0');
    await waitForTallies([late], 15_000, 500);

    const stored = await storedStats(databaseUrl, t.id, events);
    const reruns = await rerunJobs(queue);
    const reports = [all, filtered, helper, late].map((s) => s.report(stored));
    console.log(
      summaryLine('fault 1: worker SIGKILL', N, stored, reports,
        `at kill: sent=${atKill.sent} stored=${atKill.stored} active=${atKill.active} waiting=${atKill.waiting}; all jobs done ${recoveredMs} ms after the kill; jobs re-run after stalling=${reruns.stalled}, retried=${reruns.retried}; queue ${JSON.stringify(counts)}; total ${Date.now() - started} ms`),
    );

    expect(deadProcesses(procs)).toEqual([]);
    expect(stored).toMatchObject({ rows: N, distinct: N, missing: 0 });
    expect(counts['failed']).toBe(0);
    expect(counts['events']).toBe(N);
    // The fault hit work in flight: the killed worker's jobs came back through the stalled check.
    expect(reruns.stalled).toBeGreaterThan(0);
    for (const r of reports) {
      expect(r, r.name).toMatchObject({ received: r.expected, distinct: r.expected, duplicates: 0, missing: 0, unexpected: 0, wrongIds: 0 });
    }
    expect(late.report().increasing).toBe(true);
    for (const s of [all, filtered, helper, late]) expect(s.problems, s.name).toEqual([]);
  }, 90_000);
});
