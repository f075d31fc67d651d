import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../src/queues/queues.js';
import { createDisposers, createTestEnv, REDIS_URL, type Disposers, type TestEnv } from './utils/env.js';
import { collect, createWsClient, eventually, gql } from './utils/graphql.js';
import { childEnv, spawnPatternwire } from './utils/processes.js';
import { freePort } from './utils/resources.js';
import { startTestSystem } from './utils/system.js';
import { waitFor, waitForQuiet } from './utils/wait.js';

/**
 * The CLI as a user runs it: real child processes (`node dist/cli.js <command>`, as the Procfile runs it),
 * real Redis and PostgreSQL (or PGlite), signals and exit codes.
 */
const disposers = createDisposers();
/** The test env says LOG_LEVEL=warn; these tests read the banner and the shutdown lines (info). */
const INFO = { LOG_LEVEL: 'info' };
let publisher: Redis;

beforeAll(() => {
  publisher = new Redis(REDIS_URL);
  disposers.add(() => void publisher.disconnect());
});
afterAll(() => disposers.run());

/** Timings for the report, printed once at the end. */
const timings: Record<string, number> = {};
afterAll(() => console.log('[processes.test timings]', JSON.stringify(timings)));

async function tempDir(d: Disposers, label: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `pw-${label}-`));
  d.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const detection = (t: TestEnv, suffix: string, symbol: string) =>
  JSON.stringify({
    event_id: `${t.id}-${suffix}`,
    pattern: 'BreakoutBO',
    symbol,
    confidence: 0.91,
    timeframe: '1d',
    timestamp: Date.now() / 1000,
  });

/** Waits until the API has registered `n` live subscriptions, so a publish after this is heard. */
async function subscribersAtLeast(httpUrl: string, n: number): Promise<void> {
  await eventually(
    async () => {
      const { body } = await gql<{ systemHealth: { pipeline: { subscribers: number } } }>(
        httpUrl,
        `{ systemHealth { pipeline { subscribers } } }`,
      );
      return (body.data?.systemHealth.pipeline.subscribers ?? 0) >= n;
    },
    10_000,
    `${n} subscriber(s)`,
  );
}

function indexOfLine(output: string, line: string): number {
  const i = output.split('\n').findIndex((l) => l.includes(line));
  expect(i, `"${line}" in:\n${output}`).toBeGreaterThanOrEqual(0);
  return i;
}

describe('all-in-one', () => {
  it('runs on embedded PGlite without DATABASE_URL: live subscription, query, GraphiQL, clean SIGTERM', async () => {
    const t = await createTestEnv(disposers, 'procall');
    const dataDir = await tempDir(disposers, 'all');
    const port = await freePort();
    // HOST unset: the default (0.0.0.0) is shown as localhost.
    const env = childEnv(t.env, INFO, { DATABASE_URL: undefined, HOST: undefined, DATA_DIR: dataDir, PORT: String(port) });
    const started = Date.now();
    const all = spawnPatternwire(disposers, 'all', env);
    const banner = await all.waitForLine(new RegExp(`GraphiQL at http://localhost:${port}/graphql`), 30_000);
    timings['allStartMs'] = Date.now() - started;
    expect(banner).toContain(`embedded PGlite in ${dataDir}/pglite`);

    const httpUrl = `http://127.0.0.1:${port}`;
    // Non-lazy graphql-ws clients report the server's close here (console.error by default).
    const closes: unknown[] = [];
    const client = createWsClient(disposers, `ws://127.0.0.1:${port}/graphql`, { onNonLazyError: (e) => closes.push(e) });
    const sub = collect<{ patternAlert: { id: string; eventId: string; symbol: string; tier: string } }>(
      client,
      `subscription { patternAlert(filter: { symbols: ["ALLIN"] }) { id eventId symbol tier } }`,
    );
    await subscribersAtLeast(httpUrl, 1);
    await publisher.publish(t.config.channels.patterns, detection(t, 'allin', 'ALLIN'));
    const [result] = await sub.waitFor(1, 15_000);
    expect(sub.errors()).toEqual([]);
    const alert = result!.data!.patternAlert;
    expect(alert).toMatchObject({ eventId: `${t.id}-allin`, symbol: 'ALLIN', tier: 'DAILY' });

    const { body } = await gql<{ patterns: { nodes: { id: string; eventId: string }[] } }>(
      httpUrl,
      `{ patterns(filter: { symbols: ["allin"] }) { nodes { id eventId } } }`,
    );
    expect(body.errors).toBeUndefined();
    expect(body.data!.patterns.nodes).toEqual([{ id: alert.id, eventId: alert.eventId }]);

    const page = await fetch(`${httpUrl}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/graphiql/i);

    const exit = await all.signal('SIGTERM');
    timings['allShutdownMs'] = exit.ms;
    // Exit 0 means the process finished its ordered stop within its own SHUTDOWN_TIMEOUT_MS.
    expect(exit.code, all.output()).toBe(0);
    const out = all.output();
    const ingest = indexOfLine(out, '[shutdown] ingest closed');
    const workers = indexOfLine(out, '[shutdown] workers (draining jobs in flight) closed');
    const database = indexOfLine(out, '[shutdown] database closed');
    expect(ingest).toBeLessThan(workers);
    expect(workers).toBeLessThan(database);
    expect(out).not.toMatch(/failed to close/);
    // The open WebSocket was told the server is going away.
    await eventually(() => closes.length > 0, 2_000, 'the WebSocket close');
    expect(closes[0]).toMatchObject({ code: 1001 });

    expect(existsSync(path.join(dataDir, 'pglite', 'PG_VERSION'))).toBe(true);
  }, 45_000);

  it('starts a private redis-server when nothing answers at a local REDIS_URL, and stops it on SIGTERM', async () => {
    const t = await createTestEnv(disposers, 'procredis');
    const dataDir = await tempDir(disposers, 'redis');
    const redisPort = await freePort();
    const privateUrl = `redis://127.0.0.1:${redisPort}`;
    // Runs after the child is killed (disposers are last-in first-out): never leave an orphan redis-server.
    disposers.add(async () => {
      if (!(await listening(redisPort))) return;
      const r = new Redis(privateUrl, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => {});
      await r.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
      r.disconnect();
    });
    const port = await freePort();
    // PostgreSQL from the test env: this test is about Redis, and it starts faster than PGlite.
    const env = childEnv(t.env, INFO, { REDIS_URL: privateUrl, DATA_DIR: dataDir, PORT: String(port) });
    const started = Date.now();
    const all = spawnPatternwire(disposers, 'all', env);
    const said = await all.waitForLine(/started a private redis-server/, 30_000);
    expect(said).toContain(privateUrl);
    expect(said).toContain(path.join(dataDir, 'redis'));
    await all.waitForLine(/GraphiQL at http:\/\/127\.0\.0\.1:\d+\/graphql/, 30_000);
    timings['allWithPrivateRedisStartMs'] = Date.now() - started;
    expect(await listening(redisPort)).toBe(true);

    // It serves, through the private Redis: publish there, the detection is stored and queryable.
    const httpUrl = `http://127.0.0.1:${port}`;
    const privatePublisher = new Redis(privateUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null });
    privatePublisher.on('error', () => {});
    try {
      await privatePublisher.publish(t.config.channels.patterns, detection(t, 'private', 'PRIV'));
    } finally {
      privatePublisher.disconnect();
    }
    await eventually(
      async () => {
        const { body } = await gql<{ patterns: { nodes: { eventId: string }[] } }>(
          httpUrl,
          `{ patterns(filter: { symbols: ["PRIV"] }) { nodes { eventId } } }`,
        );
        return body.data?.patterns.nodes.some((n) => n.eventId === `${t.id}-private`);
      },
      15_000,
      `the detection published to the private redis-server; output:\n${all.output()}`,
    );

    const exit = await all.signal('SIGTERM');
    timings['allWithPrivateRedisShutdownMs'] = exit.ms;
    expect(exit.code, all.output()).toBe(0);
    expect(all.output()).toContain('[shutdown] private redis-server closed');
    expect(await listening(redisPort)).toBe(false);
  }, 45_000);
});

describe('configuration errors', () => {
  it('fails fast, naming what is wrong', async () => {
    const t = await createTestEnv(disposers, 'proccfg');
    const run = (command: string, overrides: Record<string, string | undefined>) => {
      const p = spawnPatternwire(disposers, command, childEnv(t.env, INFO, overrides));
      return p.exit().then((exit) => ({ ...exit, output: p.output() }));
    };
    const [api, worker, badPort, unknown] = await Promise.all([
      run('api', { DATABASE_URL: undefined }),
      run('worker', { DATABASE_URL: undefined }),
      run('api', { PORT: 'abc' }),
      run('frobnicate', {}),
    ]);
    timings['configErrorExitMs'] = Math.max(api.ms, worker.ms, badPort.ms, unknown.ms);
    for (const [name, r] of Object.entries({ api, worker })) {
      expect(r.code, `${name}: ${r.output}`).not.toBe(0);
      expect(r.code, `${name}: ${r.output}`).not.toBeNull();
      // Refused before any connection is tried: no database or Redis timeout in the output.
      expect(r.output, name).toContain('DATABASE_URL');
      expect(r.output, name).not.toMatch(/did not answer|timeout/i);
    }
    expect(badPort.code, badPort.output).not.toBe(0);
    expect(badPort.code, badPort.output).not.toBeNull();
    expect(badPort.output).toMatch(/\bPORT\b/);
    expect(unknown.code, unknown.output).toBe(2);
    expect(unknown.output).toContain('unknown command "frobnicate"');
    expect(unknown.output).toContain('usage: patternwire <command>');
  });
});

describe('shutdown with jobs in flight', () => {
  it('a worker stopped by SIGTERM mid-stream loses nothing: 1,500 stored once and delivered once', async () => {
    const TOTAL = 1_500;
    const t = await createTestEnv(disposers, 'procdrain', { WORKER_CONCURRENCY: '1' });
    // Ingest and API in this process; the worker is a child process on the same env.
    const system = await startTestSystem(disposers, t.config, { api: true, ingest: true, migrate: true });
    const pool = new pg.Pool({ connectionString: t.env['DATABASE_URL'], max: 2 });
    disposers.add(() => pool.end());
    const stored = async () =>
      Number((await pool.query<{ n: string }>('select count(*) as n from pattern_detections')).rows[0]!.n);
    const queue = new Queue(QUEUE_NAMES.detections, { connection: { url: REDIS_URL }, prefix: t.config.queuePrefix });
    disposers.add(() => queue.close());

    const client = createWsClient(disposers, system.wsUrl);
    const sub = collect<{ patternAlert: { id: string; eventId: string } }>(
      client,
      `subscription { patternAlert { id eventId } }`,
    );
    await subscribersAtLeast(system.httpUrl, 1);

    // One job at a time (a job carries up to 100 detections), so SIGTERM lands with most of the
    // stream still queued.
    const workerEnv = childEnv(t.env, INFO, { WORKER_CONCURRENCY: '1' });
    const first = spawnPatternwire(disposers, 'worker', workerEnv);
    await first.waitForLine(/Patternwire worker running/, 30_000);

    const eventIds = Array.from({ length: TOTAL }, (_, i) => `${t.id}-drain-${i}`);
    const publish = async (from: number, to: number) => {
      const batch = publisher.pipeline();
      eventIds.slice(from, to).forEach((eventId, k) => {
        const i = from + k;
        batch.publish(
          t.config.channels.patterns,
          JSON.stringify({
            event_id: eventId,
            pattern: 'DrainCheck',
            symbol: `D${i % 40}`,
            confidence: 0.5 + (i % 50) / 100,
            timeframe: '5m',
          }),
        );
      });
      await batch.exec();
    };
    // Two thirds now; the rest once the worker is frozen holding a job (below), so jobs are
    // still queued when SIGTERM lands however far a slow machine let it get by then.
    const HELD_BACK = 500;
    const publishedAt = Date.now();
    await publish(0, TOTAL - HELD_BACK);

    // SIGTERM once the worker is well into the stream, with jobs in flight.
    let atSigterm = 0;
    await eventually(async () => (atSigterm = await stored()) >= 150, 20_000, 'the first worker to store some detections');
    // ... and only while BullMQ shows it holding a job: frozen, it cannot finish that job, so
    // an active count read then is still true when SIGTERM arrives (delivered on SIGCONT).
    const counts = async () => await queue.getJobCounts('active', 'waiting');
    let held = 0;
    for (let attempt = 1; attempt <= 20 && held === 0; attempt++) {
      first.child.kill('SIGSTOP');
      held = (await counts())['active'] ?? 0;
      if (held > 0) break;
      first.child.kill('SIGCONT');
      await waitFor(
        async () => {
          const c = await counts();
          return (c['active'] ?? 0) > 0 || c['waiting'] === 0;
        },
        { timeoutMs: 10_000, intervalMs: 2, what: `attempt ${attempt}: the first worker to take a job` },
      );
    }
    if (held === 0) throw new Error('precondition not arranged: the first worker was never frozen holding a job');
    await publish(TOTAL - HELD_BACK, TOTAL);
    await waitFor(async () => ((await counts())['waiting'] ?? 0) > 0, { what: 'the held-back detections queued' });
    timings['sigtermAfterPublishMs'] = Date.now() - publishedAt;
    const exiting = first.signal('SIGTERM');
    first.child.kill('SIGCONT');
    const exit = await exiting;
    timings['storedAtSigterm'] = atSigterm;
    timings['workerShutdownMs'] = exit.ms;
    const afterFirst = await stored();
    timings['storedWhenFirstWorkerExited'] = afterFirst;
    expect(exit.code, first.output()).toBe(0);
    expect(first.output()).toContain('[shutdown] workers (draining jobs in flight) closed');
    // The point of the test: the worker stopped mid-stream, and left no job half-done.
    expect(afterFirst).toBeLessThan(TOTAL);
    const between = await queue.getJobCounts('active', 'failed');
    expect(between).toEqual({ active: 0, failed: 0 });

    const second = spawnPatternwire(disposers, 'worker', workerEnv);
    const secondStarted = Date.now();
    await eventually(async () => (await stored()) >= TOTAL, 30_000, `${TOTAL} stored detections`);
    timings['secondWorkerFinishMs'] = Date.now() - secondStarted;

    const { rows } = await pool.query<{ n: string; distinct_ids: string; mine: string }>(
      `select count(*) as n, count(distinct event_id) as distinct_ids, count(*) filter (where event_id like $1) as mine from pattern_detections`,
      [`${t.id}-drain-%`],
    );
    expect(rows[0]).toEqual({ n: String(TOTAL), distinct_ids: String(TOTAL), mine: String(TOTAL) });

    await eventually(
      async () => {
        const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(c).every((n) => n === 0);
      },
      10_000,
      'the queue to drain',
    );
    expect(await queue.getJobCounts('failed')).toEqual({ failed: 0 });

    // Every detection reached the subscriber exactly once.
    await sub.waitFor(TOTAL, 20_000);
    await waitForQuiet(() => sub.results.length, { quietMs: 500, what: 'late duplicates' });
    expect(sub.errors()).toEqual([]);
    const delivered = sub.data().map((d) => d.patternAlert);
    const timesById = new Map<string, number>();
    for (const d of delivered) timesById.set(d.id, (timesById.get(d.id) ?? 0) + 1);
    expect(timesById.size).toBe(TOTAL);
    expect([...timesById.values()].filter((n) => n !== 1)).toEqual([]);
    expect(new Set(delivered.map((d) => d.eventId))).toEqual(new Set(eventIds));

    const secondExit = await second.signal('SIGTERM');
    timings['secondWorkerShutdownMs'] = secondExit.ms;
    expect(secondExit.code, second.output()).toBe(0);
  }, 45_000);
});
