import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { createAlertClient, type AlertClientState } from '../src/client/alert-client.js';
import {
  deadProcesses,
  explainFailure,
  makeBurst,
  startBurst,
  startRole,
  storedStats,
  subscribeTally,
  summaryLine,
  Tally,
  waitForDrained,
  waitForTallies,
  expectExactlyOnce,
} from './utils/burst.js';
import { createDisposers, createTestEnv, REDIS_URL, type Disposers } from './utils/env.js';
import { eventually } from './utils/graphql.js';
import { childEnv } from './utils/processes.js';
import { freePort } from './utils/resources.js';
import { startTestSystem } from './utils/system.js';

/**
 * Fault 3 of issue 3: the API process the clients are connected to is killed (SIGKILL) in the
 * middle of a burst and started again on the same port. The client helper
 * (`src/client/alert-client.ts`) reconnects and resubscribes with `after: <last id it saw>`,
 * so it ends with every detection exactly once.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

/** An alert client feeding `tally`, counting its reconnects. */
function alertClient(d: Disposers, wsUrl: string, tally: Tally) {
  const states: AlertClientState[] = [];
  const client = createAlertClient({
    url: wsUrl,
    // A fresh database: "after 0" means everything, and a reconnect before the first alert still resumes.
    after: '0',
    filter: tally.symbols ? { symbols: tally.symbols.map((s) => s.toLowerCase()) } : undefined,
    selection: 'id eventId symbol',
    webSocketImpl: WebSocket,
    backoff: { initialMs: 50, maxMs: 1_000 },
    onAlert: (a) => tally.add(a as never),
    onError: (e) => tally.problems.push(e),
    onStateChange: (s) => states.push(s),
  });
  d.add(() => client.close());
  return { client, reconnects: () => states.filter((s) => s === 'reconnecting').length };
}

describe('fault: the API process is killed and restarted mid-burst', () => {
  it('the client helper resumes with `after` and ends with every detection exactly once', async () => {
    const started = Date.now();
    const t = await createTestEnv(disposers, 'fkapi');
    const databaseUrl = t.env['DATABASE_URL']!;
    // Ingest and worker in this process; the API the clients use is a child.
    const system = await startTestSystem(disposers, t.config, { ingest: true, worker: true, migrate: true });
    const port = await freePort();
    const env = childEnv(t.env, { PORT: String(port) });
    const api1 = await startRole(disposers, 'api', env);
    const wsUrl = `ws://127.0.0.1:${port}/graphql`;

    const N = 2_000;
    const events = makeBurst(t.id, N);
    const all = new Tally('alert-client-all', events);
    const filtered = new Tally('alert-client-nvda+tsla', events, ['NVDA', 'TSLA']);
    const clients = [alertClient(disposers, wsUrl, all), alertClient(disposers, wsUrl, filtered)];
    await eventually(() => clients.every((c) => c.client.state() === 'live'), 15_000, 'both clients live');

    const queue = system.queues.detections;
    const publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    const burst = startBurst(publisher, t.config.channels.patterns, events, { ratePerSec: 200 });

    // Mid-burst, once the clients are receiving: kill the API and start it again on the same
    // port. Publishing goes on while it is down, but holds at 3/4 until it is back, so some of
    // the burst always arrives live after the clients resumed (a start-up is slow on a busy machine).
    burst.pauseAt((3 * N) / 4);
    await burst.reached(N / 4);
    await eventually(() => all.alerts.length >= 200 && filtered.alerts.length >= 50, 20_000, 'alerts before the kill');
    const atKill = { sent: burst.sent(), all: all.alerts.length, filtered: filtered.alerts.length };
    await api1.signal('SIGKILL');
    const killedAt = Date.now();
    const api2 = await startRole(disposers, 'api', env);
    const downMs = Date.now() - killedAt;
    const atRestart = { sent: burst.sent(), all: all.alerts.length, filtered: filtered.alerts.length };
    burst.resume();
    await burst.done;

    const procs = { api2 };
    await explainFailure(waitForDrained(queue, N, 30_000), procs);
    await explainFailure(waitForTallies([all, filtered], 20_000), procs);

    // A plain subscriber after the burst, from the start: all of it, once, in increasing id order.
    const late = new Tally('plain-replay-after-burst(after:0)', events);
    subscribeTally(disposers, wsUrl, late, '0');
    await waitForTallies([late], 15_000, 500);

    const stored = await storedStats(databaseUrl, t.id, events);
    const reports = [all, filtered, late].map((s) => s.report(stored));
    console.log(
      summaryLine(
        'fault 3: API SIGKILL + restart',
        N,
        stored,
        reports,
        `at kill: sent=${atKill.sent} all=${atKill.all} filtered=${atKill.filtered}; API down ${downMs} ms (restart incl. start-up); at restart: sent=${atRestart.sent} all=${atRestart.all} filtered=${atRestart.filtered}; reconnects ${clients.map((c) => c.reconnects()).join('/')}; total ${Date.now() - started} ms`,
      ),
    );

    expect(atRestart.sent).toBeLessThan(N);
    expect(deadProcesses(procs)).toEqual([]);
    expect(stored).toMatchObject({ rows: N, distinct: N, missing: 0 });
    expectExactlyOnce(reports);
    for (const c of clients) expect(c.reconnects()).toBeGreaterThanOrEqual(1);
    const lateReport = late.report();
    expect(lateReport.increasing).toBe(true);
    expect(late.alerts.map((a) => a.id)).toEqual(stored.idsInOrder);
    for (const s of [all, filtered, late]) expect(s.problems, s.name).toEqual([]);
  }, 90_000);
});
