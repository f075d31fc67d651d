import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  deadProcesses,
  detectionsQueue,
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
import { childEnv, spawnPatternwire, type PatternwireProcess } from './utils/processes.js';
import { freePort } from './utils/resources.js';
import { readProcfile } from './utils/procfile.js';

/**
 * Fault 7 of issue 3: the Procfile as a process manager runs it, scaled to two `web`, two
 * `worker` and two `ingest` processes after `release`. Each ingest hears every message, each
 * web subscribes to every alert; clients spread over both web processes (some filtered) each
 * receive every matching alert exactly once.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

describe('fault: the Procfile with web=2 worker=2 ingest=2', () => {
  it('clients on either web process receive every matching alert exactly once', async () => {
    const started = Date.now();
    const procfile = readProcfile();
    for (const type of ['release', 'web', 'worker', 'ingest']) expect(procfile.has(type), `Procfile has ${type}`).toBe(true);
    const sub = (type: string) => procfile.get(type)!.subcommand;

    const t = await createTestEnv(disposers, 'fkprocfile');
    const env = childEnv(t.env);

    // release first, to completion, as a platform does before starting the processes.
    const release = spawnPatternwire(disposers, sub('release'), { ...env, LOG_LEVEL: 'info' });
    const releaseExit = await release.exit();
    expect(releaseExit.code, release.output()).toBe(0);

    const webPorts = [await freePort(), await freePort()];
    const procs: Record<string, PatternwireProcess> = {};
    const starts: [string, string, NodeJS.ProcessEnv][] = [
      ['web.1', sub('web'), { ...env, PORT: String(webPorts[0]) }],
      ['web.2', sub('web'), { ...env, PORT: String(webPorts[1]) }],
      ['worker.1', sub('worker'), env],
      ['worker.2', sub('worker'), env],
      ['ingest.1', sub('ingest'), env],
      ['ingest.2', sub('ingest'), env],
    ];
    await Promise.all(
      starts.map(async ([name, command, e]) => {
        procs[name] = await startRole(disposers, command, e);
      }),
    );
    const startedMs = Date.now() - started;

    const N = 2_000;
    const events = makeBurst(t.id, N);
    const web = webPorts.map((p) => ({ httpUrl: `http://127.0.0.1:${p}`, wsUrl: `ws://127.0.0.1:${p}/graphql` }));
    const clients: [number, Tally][] = [
      [0, new Tally('web.1 all', events)],
      [0, new Tally('web.1 aapl', events, ['AAPL'])],
      [0, new Tally('web.1 msft+nvda', events, ['MSFT', 'NVDA'])],
      [1, new Tally('web.2 all', events)],
      [1, new Tally('web.2 tsla', events, ['TSLA'])],
      [1, new Tally('web.2 aapl+amzn', events, ['AAPL', 'AMZN'])],
    ];
    for (const [w, tally] of clients) subscribeTally(disposers, web[w]!.wsUrl, tally);
    await Promise.all(web.map((w) => subscribersAtLeast(w.httpUrl, 3)));

    const queue = detectionsQueue(disposers, REDIS_URL, t.config.queuePrefix);
    const publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    const burst = startBurst(publisher, t.config.channels.patterns, events, { ratePerSec: 1_000 });
    await burst.done;

    const tallies = clients.map(([, tally]) => tally);
    const counts = await explainFailure(waitForDrained(queue, N, 30_000), procs);
    await explainFailure(waitForTallies(tallies, 20_000), procs);

    // Replay through either web process gives the same, complete history.
    const late = [new Tally('web.1 replay(after:0)', events), new Tally('web.2 replay(after:0, msft)', events, ['MSFT'])];
    late.forEach((tally, w) => subscribeTally(disposers, web[w]!.wsUrl, tally, '0'));
    await waitForTallies(late, 15_000, 500);

    const stored = await storedStats(t.env['DATABASE_URL']!, t.id, events);
    const all = [...tallies, ...late];
    const reports = all.map((s) => s.report(stored));
    console.log(
      summaryLine(
        'fault 7: Procfile web=2 worker=2 ingest=2',
        N,
        stored,
        reports,
        `processes up in ${startedMs} ms; queue ${JSON.stringify(counts)}; total ${Date.now() - started} ms`,
      ),
    );

    expect(deadProcesses(procs)).toEqual([]);
    expect(stored).toMatchObject({ rows: N, distinct: N, missing: 0 });
    // Both ingest processes hear and enqueue every message; the database keeps one of each (above).
    expect(counts['events']).toBe(2 * N);
    expect(counts['failed']).toBe(0);
    expectExactlyOnce(reports);
    for (const s of late) expect(s.report().increasing, s.name).toBe(true);
    for (const s of all) expect(s.problems, s.name).toEqual([]);
  }, 90_000);
});
