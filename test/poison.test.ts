import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { collect, createWsClient, eventually, gql } from './utils/graphql.js';
import { startTestSystem, type TestSystem } from './utils/system.js';

/**
 * Contract §1 "Bad input": a message the database would refuse is rejected alone. Caught at the
 * door (NUL, lone surrogates, …) or refused by PostgreSQL itself (a data error by SQLSTATE),
 * it is stored as a rejected event with its reason, never retried, and the detections published
 * beside it — in the same pipeline, the same job, the same writer batch — are stored and
 * delivered as usual. A fault, unlike bad data, is retried, and a job that keeps retrying shows
 * in `systemHealth`.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

interface Health {
  status: string;
  queueWaiting: number;
  queueFailed: number;
  queueRetrying: number;
  reasons: string[];
}

async function pipelineHealth(system: TestSystem): Promise<Health> {
  const { body } = await gql<{ systemHealth: { pipeline: Health } }>(
    system.httpUrl,
    '{ systemHealth { pipeline { status queueWaiting queueFailed queueRetrying reasons } } }',
  );
  return body.data!.systemHealth.pipeline;
}

async function sql<T = Record<string, unknown>>(t: TestEnv, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: t.config.databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

const valid = (t: TestEnv, i: number) =>
  JSON.stringify({ event_id: `${t.id}-v${i}`, pattern: 'Doji', symbol: 'AAPL', confidence: 0.5 });

describe('a poison message among valid ones', () => {
  let t: TestEnv;
  let system: TestSystem;
  let publisher: Redis;

  beforeAll(async () => {
    t = await createTestEnv(disposers, 'poison');
    system = await startTestSystem(disposers, t.config);
    publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
  });

  it('the issue’s reproduction and every listed field: poison rejected with a reason, all 300 valid stored and delivered, nothing retried', async () => {
    const client = createWsClient(disposers, system.wsUrl);
    const live = collect<{ patternAlert: { eventId: string } }>(
      client,
      'subscription { patternAlert(filter: { symbols: ["AAPL"] }) { eventId } }',
    );
    await eventually(async () => (await pipelineHealth(system)) && system.api, 10_000);
    await eventually(
      async () =>
        (
          await gql<{ systemHealth: { pipeline: { subscribers: number } } }>(
            system.httpUrl,
            '{ systemHealth { pipeline { subscribers } } }',
          )
        ).body.data?.systemHealth.pipeline.subscribers === 1,
    );

    const c = t.config.channels;
    // Each holds a NUL (or a lone surrogate) in one of the fields the issue lists; JSON escapes
    // reach JSON.parse, which turns them into the characters PostgreSQL cannot store.
    const poison: [channel: string, payload: string][] = [
      [c.patterns, `{"event_id":"${t.id}-p1","symbol":"AAPL","pattern":"Do\\u0000ji","confidence":0.5}`],
      [c.patterns, `{"event_id":"${t.id}-p2","symbol":"AAPL","pattern":"Doji","confidence":0.5,"source":"x\\u0000"}`],
      [c.patterns, `{"event_id":"${t.id}-p3","symbol":"AAPL","pattern":"Doji","confidence":0.5,"timeframe":"1\\u0000d"}`],
      [c.patterns, `{"event_id":"${t.id}-p4\\u0000","symbol":"AAPL","pattern":"Doji","confidence":0.5}`],
      [c.patterns, `{"event_id":"${t.id}-p5","symbol":"AAPL","pattern":"Doji","confidence":0.5,"metadata":{"k\\u0000":1}}`],
      [c.patterns, `{"event_id":"${t.id}-p6","symbol":"AAPL","pattern":"Do\\ud800ji","confidence":0.5}`],
      [c.health, `{"status":"heal\\u0000thy","source":"${t.id}"}`],
      [c.backtestProgress, `{"job_id":"${t.id}\\u0000","progress":0.5}`],
    ];
    const batch = publisher.pipeline();
    for (let i = 0; i < 300; i++) {
      batch.publish(c.patterns, valid(t, i));
      if (i % 37 === 10) batch.publish(...poison[(i - 10) / 37]!);
    }
    await batch.exec();

    await eventually(
      async () => (await sql(t, 'SELECT 1 FROM pattern_detections')).length === 300,
      20_000,
      '300 valid detections stored',
    );
    await eventually(() => live.results.length === 300, 10_000, '300 valid detections delivered');
    const rejected = await eventually(
      async () => {
        const rows = await sql<{ channel: string; reason: string }>(t, 'SELECT channel, reason FROM rejected_events');
        if (rows.length !== poison.length) throw new Error(`${rows.length} so far: ${JSON.stringify(rows)}`);
        return rows;
      },
      10_000,
      `${poison.length} rejected events`,
    );
    for (const r of rejected) expect(r.reason, JSON.stringify(r)).toMatch(/NUL|surrogate/);
    expect(new Set(live.results.map((r) => r.data!.patternAlert.eventId)).size).toBe(300);

    const counts = await system.queues.detections.getJobCounts('failed', 'delayed', 'waiting', 'active');
    expect(counts).toEqual({ failed: 0, delayed: 0, waiting: 0, active: 0 });
    expect(await pipelineHealth(system)).toMatchObject({ status: 'ok', queueFailed: 0, queueRetrying: 0 });
  });
});

describe('a value PostgreSQL refuses that the contract’s checks let through', () => {
  let t: TestEnv;
  let system: TestSystem;
  let publisher: Redis;

  beforeAll(async () => {
    t = await createTestEnv(disposers, 'refused');
    system = await startTestSystem(disposers, t.config);
    publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    // A constraint the contract knows nothing of: the database refuses these rows as data (23514).
    await sql(t, `ALTER TABLE pattern_detections ADD CONSTRAINT no_poison CHECK (symbol <> 'POISON')`);
    await sql(t, `ALTER TABLE backtest_jobs ADD CONSTRAINT no_poison_job CHECK (job_id <> 'POISON')`);
  });

  it('stores the rest of the job and batch, rejects the refused rows alone with the database’s reason, and never retries', async () => {
    const c = t.config.channels;
    const batch = publisher.pipeline();
    for (let i = 0; i < 300; i++) {
      batch.publish(c.patterns, valid(t, i));
      if (i === 100 || i === 250)
        batch.publish(
          c.patterns,
          JSON.stringify({ event_id: `${t.id}-x${i}`, pattern: 'Doji', symbol: 'POISON', confidence: 0.5 }),
        );
    }
    batch.publish(c.backtestProgress, JSON.stringify({ job_id: 'POISON', progress: 0.5 }));
    batch.publish(c.backtestProgress, JSON.stringify({ job_id: `${t.id}-ok`, progress: 0.5 }));
    await batch.exec();

    await eventually(
      async () => (await sql(t, 'SELECT 1 FROM pattern_detections')).length === 300,
      20_000,
      '300 valid detections stored',
    );
    const rejected = await eventually(
      async () => {
        const rows = await sql<{ channel: string; reason: string; payload: Buffer }>(
          t,
          'SELECT channel, reason, payload FROM rejected_events ORDER BY id',
        );
        return rows.length === 3 ? rows : null;
      },
      10_000,
      '3 rejected events',
    );
    for (const r of rejected) {
      expect(r.reason).toMatch(/database refused it: .*no_poison.*SQLSTATE 23514/);
      // The reason carries what the database said, never the statement or its parameters.
      expect(r.reason.length).toBeLessThan(500);
    }
    expect(rejected.map((r) => r.channel).sort()).toEqual([c.backtestProgress, c.patterns, c.patterns].sort());
    expect(
      rejected
        .filter((r) => r.channel === c.patterns)
        .map((r) => JSON.parse(r.payload.toString()).eventId)
        .sort(),
    ).toEqual([`${t.id}-x100`, `${t.id}-x250`]);
    await eventually(async () => (await sql(t, `SELECT 1 FROM backtest_jobs WHERE job_id = $1`, [`${t.id}-ok`])).length === 1);

    // Every job completed on its first attempt: a data error is not a fault.
    const jobs = [
      ...(await system.queues.detections.getJobs(['completed'])),
      ...(await system.queues.control.getJobs(['completed'])),
    ];
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) expect(job.attemptsStarted, `job ${job.id}`).toBe(1);
    expect(await system.queues.detections.getJobCounts('failed', 'delayed')).toEqual({ failed: 0, delayed: 0 });
    expect(await system.queues.control.getJobCounts('failed', 'delayed')).toEqual({ failed: 0, delayed: 0 });
  });
});

describe('a job that keeps failing with a fault', () => {
  let t: TestEnv;
  let system: TestSystem;
  let publisher: Redis;

  beforeAll(async () => {
    t = await createTestEnv(disposers, 'retrying', {
      PIPELINE_RETRY_ALERT_SECONDS: '1',
      JOB_BACKOFF_MS: '20',
      JOB_BACKOFF_MAX_MS: '50',
    });
    system = await startTestSystem(disposers, t.config);
    publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    // A fault, not bad data: serialisation failures (40001) pass on a retry, so they are retried.
    await sql(
      t,
      `CREATE FUNCTION fail_retry() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.symbol = 'RETRY' THEN RAISE EXCEPTION 'injected fault' USING ERRCODE = 'serialization_failure'; END IF;
        RETURN NEW;
      END $$`,
    );
    await sql(t, `CREATE TRIGGER fail_retry BEFORE INSERT ON pattern_detections FOR EACH ROW EXECUTE FUNCTION fail_retry()`);
  });

  it('is retried, logged with its cause a few times rather than at every attempt, counted, and makes the pipeline degraded past the alert time', async () => {
    await publisher.publish(
      t.config.channels.patterns,
      JSON.stringify({ event_id: `${t.id}-r`, pattern: 'Doji', symbol: 'RETRY', confidence: 0.5 }),
    );
    const degraded = await eventually(
      async () => {
        const h = await pipelineHealth(system);
        return h.status === 'degraded' && h.queueRetrying === 1 ? h : null;
      },
      20_000,
      'the pipeline to be degraded by a retrying job',
    );
    expect(degraded.reasons.join(' ')).toMatch(/1 job\(s\) retrying; job \S+ \(detections\) for \d+ s: .*injected fault/);

    // Past ten attempts, the log has said it at the 1st and the 10th only.
    const [job] = await system.queues.detections.getJobs(['delayed', 'active', 'waiting']);
    await eventually(
      async () => ((await system.queues.detections.getJob(job!.id!))?.attemptsMade ?? 0) > 12,
      20_000,
      'more than 12 attempts',
    );
    const said = system.logs.filter((l) => l.includes('will retry'));
    expect(said.length).toBe(2);
    expect(said[0]).toMatch(/attempt 1\), will retry: .*injected fault/);

    // The fault goes away: the job completes, and the pipeline is ok again.
    await sql(t, 'DROP TRIGGER fail_retry ON pattern_detections');
    await eventually(async () => (await sql(t, 'SELECT 1 FROM pattern_detections')).length === 1, 20_000, 'the detection stored');
    await eventually(
      async () => {
        const h = await pipelineHealth(system);
        return h.status === 'ok' && h.queueRetrying === 0;
      },
      10_000,
      'the pipeline to be ok again',
    );
  });
});
