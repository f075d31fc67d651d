/**
 * Patternwire as the benchmark runs it: `migrate`, then one `api` (or `apis`), one `worker` and
 * one `ingest` as real child processes (`node --import tsx src/cli.ts <role>`), sharing the bench's database,
 * prefixes and channels. Also the bench's own view into the queue and the database.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { QUEUE_NAMES } from '../../src/queues/queues.js';
import type { Cleanup } from './cleanup.js';
import type { BenchEnv } from './env.js';
import { spawnNode, waitReady, type Child } from './processes.js';
import { createTestUser } from '../../test/utils/auth.js';
import { freePort } from '../../test/utils/resources.js';
import { setBenchToken } from './credential.js';
import { sleep } from './util.js';

/** Patternwire's default consumer group (INGEST_STREAM_GROUP). */
const STREAM_GROUP = 'patternwire';

export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  /** waiting + active + delayed + prioritized: the backlog. */
  depth: number;
}

export interface Patternwire {
  /** The first API process's. */
  httpUrl: string;
  wsUrl: string;
  /** Every API process's, the first first. */
  wsUrls: readonly string[];
  api: Child;
  worker: Child;
  ingest: Child;
  /** The processes of the pipeline, for CPU accounting. */
  children(): Child[];
  /** The bench's own pool on Patternwire's database. */
  pool: pg.Pool;
  queueDepth(): Promise<QueueDepth>;
  /** Stops the ingest process (gracefully: what it read is enqueued and acknowledged); `resetPipeline` starts a new one. */
  stopIngest(): Promise<void>;
  /** Entries of the patterns stream the ingest has not read yet (the consumer group's lag). */
  streamBacklog(): Promise<number>;
  /** Highest detection id stored (0 when none). */
  maxId(): Promise<number>;
  /** Detections stored with id > `afterId` and an event id starting with `prefix`. */
  storedCount(afterId: number, prefix: string): Promise<number>;
  /**
   * The writer's transactions, told apart by `stored_at` (now() = transaction start, so rows of
   * one group-commit batch share it): how many, and their sizes.
   */
  writerBatches(
    afterId: number,
    prefix: string,
  ): Promise<{ batches: number; meanSize: number | null; maxSize: number | null; perSecond: number | null }>;
  /** Per stored row of a run: event id, received_at and stored_at as epoch ms (database clock). */
  stageTimes(afterId: number, prefix: string): Promise<{ eventId: string; receivedAt: number; storedAt: number }[]>;
  /** Waits for an empty backlog; false if it is not empty within `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean>;
  /**
   * Replaces worker and ingest with fresh processes on an emptied queue: used when a scenario
   * left a backlog that would otherwise be measured by the next one.
   */
  resetPipeline(): Promise<void>;
  /** Starts one more API process (own port, own pub/sub prefix unless `sharePubsub`). */
  startExtraApi(name: string, opts?: { sharePubsub?: boolean }): Promise<ExtraApi>;
  /** The idle API started with the others (`spareApi`), once; null if none or already taken. */
  takeSpareApi(): ExtraApi | null;
}

export interface ExtraApi {
  child: Child;
  httpUrl: string;
  wsUrl: string;
}

/**
 * `spareApi`: also start an idle extra API (own pub/sub prefix, so it hears nothing) alongside
 * the others, for the memory scenario, so its start-up does not run beside a measurement.
 */
export async function startPatternwire(
  cleanup: Cleanup,
  env: BenchEnv,
  log: (m: string) => void,
  opts: { spareApi?: boolean; cpuProfDir?: string | null; apis?: number } = {},
): Promise<Patternwire> {
  const childEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    ...env.patternwireEnv,
    ...extra,
  });
  // With --cpu-prof each long-running child writes a V8 profile when it exits (SIGTERM: orderly).
  let started = 0;
  const spawnRole = (name: string, role: string, extra: Record<string, string> = {}) =>
    spawnNode(cleanup, name, ['src/cli.ts', role], childEnv(extra), {
      nodeArgs: opts.cpuProfDir
        ? // One directory per process: Node names each thread's profile (main and tsx's loader thread) itself.
          ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}/${name.replace(/\W+/g, '-').replace(/-+$/, '')}-${++started}`]
        : [],
      stopGraceMs: opts.cpuProfDir ? 20_000 : 3_000,
    });

  const migrate = spawnNode(cleanup, 'patternwire migrate', ['src/cli.ts', 'migrate'], childEnv());
  const migrated = await migrate.exited;
  if (migrated.code !== 0)
    throw new Error(`patternwire migrate failed (${migrated.code ?? migrated.signal}):\n${migrate.output()}`);
  setBenchToken((await createTestUser(env.databaseUrl, 'bench', 'READER')).token);

  const redis = new Redis(env.redisUrl, { maxRetriesPerRequest: 3 });
  cleanup.add('bench redis connection', () => redis.disconnect());
  const queue = new Queue(QUEUE_NAMES.detections, { connection: redis, prefix: env.queuePrefix });
  cleanup.add('bench queue handle', () => queue.close());
  const pool = new pg.Pool({ connectionString: env.databaseUrl, max: 4 });
  cleanup.add('bench database pool', () => pool.end());

  const startApi = async (name: string, extra: Record<string, string> = {}) => {
    const port = await freePort();
    const child = spawnRole(name, 'api', { PORT: String(port), ...extra });
    return { child, httpUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/graphql` };
  };
  const apiReady = (api: { child: Child; httpUrl: string }) =>
    waitReady(
      [api.child],
      async () => (await fetch(`${api.httpUrl}/healthz`)).status === 200,
      60_000,
      `${api.child.name} /healthz`,
    );

  const startWorker = () => spawnRole('patternwire worker', 'worker');
  const startIngest = () => spawnRole('patternwire ingest', 'ingest');
  const workerReady = (worker: Child) =>
    waitReady([worker], async () => (await queue.getWorkersCount()) > 0, 60_000, 'patternwire worker (connected to the queue)');
  const ingestReady = (ingest: Child) =>
    waitReady(
      [ingest],
      async () => {
        const reply = (await redis.pubsub('NUMSUB', env.patternsChannel)) as [string, number];
        return Number(reply[1]) > 0;
      },
      60_000,
      'patternwire ingest (subscribed to the patterns channel)',
    );

  const apis = [await startApi('patternwire api')];
  // More, as Procfile web=N runs them: same database, queues and channels, so each gets every
  // detection and serves the subscribers connected to it.
  for (let i = 2; i <= (opts.apis ?? 1); i++) apis.push(await startApi(`patternwire api ${i}`));
  const api = apis[0]!;
  let worker = startWorker();
  let ingest = startIngest();
  const idlePrefix = (name: string) => ({ PUBSUB_PREFIX: `${env.id}-${name.replace(/\W+/g, '-')}` });
  let spare: ExtraApi | null = opts.spareApi ? await startApi('patternwire api (memory)', idlePrefix('memory')) : null;
  await Promise.all([...apis.map(apiReady), workerReady(worker), ingestReady(ingest), spare && apiReady(spare)]);

  const streamBacklog = async (): Promise<number> => {
    const groups = (await redis.xinfo('GROUPS', env.patternsChannel).catch(() => [])) as unknown[][];
    for (const g of groups) {
      const field = (name: string) => g[g.indexOf(name) + 1];
      if (field('name') === STREAM_GROUP) return Number(field('lag') ?? 0);
    }
    return 0;
  };
  const queueDepth = async (): Promise<QueueDepth> => {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed');
    const n = (k: string) => c[k] ?? 0;
    return {
      waiting: n('waiting') + n('prioritized'),
      active: n('active'),
      delayed: n('delayed'),
      completed: n('completed'),
      failed: n('failed'),
      depth: n('waiting') + n('prioritized') + n('active') + n('delayed'),
    };
  };

  const pw: Patternwire = {
    httpUrl: api.httpUrl,
    wsUrl: api.wsUrl,
    wsUrls: apis.map((a) => a.wsUrl),
    api: api.child,
    get worker() {
      return worker;
    },
    get ingest() {
      return ingest;
    },
    children: () => [...apis.map((a) => a.child), worker, ingest],
    pool,
    queueDepth,
    async maxId() {
      const r = await pool.query<{ id: string | null }>('SELECT max(id) AS id FROM pattern_detections');
      return Number(r.rows[0]?.id ?? 0);
    },
    async storedCount(afterId, prefix) {
      const r = await pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM pattern_detections WHERE id > $1 AND event_id LIKE $2',
        [afterId, `${prefix}%`],
      );
      return Number(r.rows[0]?.n ?? 0);
    },
    async writerBatches(afterId, prefix) {
      const r = await pool.query<{ batches: string; mean: string | null; max: string | null; span: string | null }>(
        `SELECT count(*) AS batches, avg(n) AS mean, max(n) AS max,
                extract(epoch FROM max(stored_at) - min(stored_at)) AS span
           FROM (SELECT stored_at, count(*) AS n FROM pattern_detections
                  WHERE id > $1 AND event_id LIKE $2 GROUP BY stored_at) AS b`,
        [afterId, `${prefix}%`],
      );
      const row = r.rows[0]!;
      const batches = Number(row.batches);
      const span = row.span === null ? null : Number(row.span);
      return {
        batches,
        meanSize: row.mean === null ? null : Math.round(Number(row.mean) * 10) / 10,
        maxSize: row.max === null ? null : Number(row.max),
        perSecond: span && span > 0 ? Math.round((batches - 1) / span) : null,
      };
    },
    async stageTimes(afterId, prefix) {
      const r = await pool.query<{ event_id: string; r: string; s: string }>(
        `SELECT event_id, extract(epoch FROM received_at) * 1000 AS r, extract(epoch FROM stored_at) * 1000 AS s
           FROM pattern_detections WHERE id > $1 AND event_id LIKE $2`,
        [afterId, `${prefix}%`],
      );
      return r.rows.map((row) => ({ eventId: row.event_id, receivedAt: Number(row.r), storedAt: Number(row.s) }));
    },
    async drain(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if ((await queueDepth()).depth === 0) return true;
        await sleep(200);
      }
      return false;
    },
    async streamBacklog() {
      return streamBacklog();
    },
    async stopIngest() {
      await ingest.stop(opts.cpuProfDir ? 20_000 : 5_000);
    },
    async resetPipeline() {
      log('  resetting the pipeline: a backlog is left; fresh worker and ingest on an emptied queue and stream');
      await Promise.all([worker.stop(opts.cpuProfDir ? 20_000 : 5_000), ingest.stop(opts.cpuProfDir ? 20_000 : 5_000)]);
      await queue.obliterate({ force: true });
      // Unread entries would be read by the new ingest: move the group past them.
      await redis.xgroup('SETID', env.patternsChannel, STREAM_GROUP, '$').catch(() => undefined);
      worker = startWorker();
      ingest = startIngest();
      await Promise.all([workerReady(worker), ingestReady(ingest)]);
    },
    async startExtraApi(name, o = {}) {
      const extra = await startApi(name, o.sharePubsub ? {} : idlePrefix(name));
      await apiReady(extra);
      return extra;
    },
    takeSpareApi() {
      const s = spare;
      spare = null;
      return s;
    },
  };
  return pw;
}
