import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/db/client.js';
import { loadConfig } from '../src/config/env.js';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';
import { collect, createWsClient, eventually, gql } from './utils/graphql.js';
import { startTestSystem } from './utils/system.js';
import { createTcpProxy } from './utils/tcp-proxy.js';
import { subscribersAtLeast } from './utils/burst.js';

const disposers = createDisposers();
afterAll(() => disposers.run());

async function countRows(databaseUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: string }>('select count(*) as n from pattern_detections');
    return Number(rows[0]!.n);
  } finally {
    await c.end();
  }
}

describe('worker faults', () => {
  it('retries while the database is unreachable and loses nothing once it is back', async () => {
    const t = await createTestEnv(disposers, 'dbfault');
    const directUrl = t.env['DATABASE_URL']!;
    const migrator = await createDatabase({ url: directUrl, dataDir: '.data' });
    await migrator.migrate();
    await migrator.close();

    const proxy = await createTcpProxy(disposers, 5432);
    const proxied = new URL(directUrl);
    proxied.port = String(proxy.port);
    const config = loadConfig({ ...t.env, DATABASE_URL: proxied.toString() });
    const system = await startTestSystem(disposers, config, { api: true, ingest: true, worker: true });
    const client = createWsClient(disposers, system.wsUrl);
    const sub = collect<{ patternAlert: { eventId: string } }>(client, `subscription { patternAlert { id eventId } }`);
    await subscribersAtLeast(system.httpUrl, 1);

    const publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    proxy.cut();
    const N = 50;
    for (let i = 0; i < N; i++) {
      await publisher.publish(
        t.config.channels.patterns,
        JSON.stringify({ event_id: `${t.id}-${i}`, pattern: 'Doji', symbol: 'IBM', confidence: 0.7 }),
      );
    }
    // Jobs fail against the cut database and wait in the delayed set for their retry.
    await eventually(
      async () => ((await system.queues.detections.getJobCounts('delayed')).delayed ?? 0) > 0,
      10_000,
      'retries to be scheduled',
    );
    // ... and a retry ran and failed too: the cut is what the jobs meet, not a one-off error.
    await eventually(
      async () => (await system.queues.detections.getJobs(['delayed', 'waiting', 'active'])).some((j) => j.attemptsMade >= 2),
      10_000,
      'a job to fail a second time against the cut database',
    );
    expect(await countRows(directUrl)).toBe(0);
    expect(sub.results).toHaveLength(0);

    proxy.restore();
    await eventually(async () => (await countRows(directUrl)) === N, 20_000, `all ${N} rows stored`);
    await sub.waitFor(N, 10_000);
    const ids = sub.data().map((d) => d.patternAlert.eventId);
    expect(new Set(ids).size).toBe(N);
    expect(ids).toHaveLength(N);
    const counts = await system.queues.detections.getJobCounts('failed', 'delayed', 'waiting');
    expect(counts).toEqual({ failed: 0, delayed: 0, waiting: 0 });
  });

  it('fails bad job data at once, without retries, and reports it in pipeline health', async () => {
    const t = await createTestEnv(disposers, 'baddata');
    const system = await startTestSystem(disposers, t.config, { api: true, worker: true, migrate: true });
    // Anything with Redis access can add a job: the worker checks job data like any input.
    const bad = [
      await system.queues.detections.add('rejected', { kind: 'rejected', channel: 42 } as never),
      // One bad detection fails its whole group: none of it is stored, the job lands in 'failed'.
      await system.queues.detections.add('detections', {
        kind: 'detections',
        events: [{ kind: 'pattern', symbol: 'AAPL' }],
      } as never),
      await system.queues.detections.add('detections', { kind: 'detections', events: [] }),
    ];
    for (const job of bad) {
      const failed = await eventually(async () => ((await job.isFailed()) ? system.queues.detections.getJob(job.id!) : null));
      expect(failed.attemptsMade).toBe(1);
      expect(failed.failedReason).toMatch(/invalid data/);
    }

    const { body } = await gql<{ systemHealth: { pipeline: { status: string; queueFailed: number; reasons: string[] } } }>(
      system.httpUrl,
      `{ systemHealth { pipeline { status queueFailed reasons } } }`,
    );
    expect(body.data!.systemHealth.pipeline).toMatchObject({ status: 'degraded', queueFailed: 3 });
  });

  it('keeps completed jobs only for the retention window', async () => {
    const t = await createTestEnv(disposers, 'retention', { COMPLETED_JOB_RETENTION_SECONDS: '1' });
    const system = await startTestSystem(disposers, t.config, { worker: true, ingest: true, migrate: true });
    const publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    const send = (i: number) =>
      publisher.publish(
        t.config.channels.patterns,
        JSON.stringify({ event_id: `${t.id}-${i}`, pattern: 'Doji', symbol: 'IBM', confidence: 0.7 }),
      );
    await send(1);
    await eventually(async () => (await system.queues.detections.getJobCounts('completed')).completed === 1);
    // Until it is older than the 1 s retention window (BullMQ's own timestamp, as it trims by).
    await eventually(
      async () => {
        const [job] = await system.queues.detections.getJobs(['completed']);
        return job?.finishedOn !== undefined && Date.now() - job.finishedOn > 1_000;
      },
      5_000,
      'the completed job to outlive the retention window',
    );
    // BullMQ trims by age when the next job completes.
    await send(2);
    await eventually(
      async () => {
        const jobs = await system.queues.detections.getJobs(['completed']);
        const data = jobs[0]?.data;
        return jobs.length === 1 && data?.kind === 'detections' && data.events[0]?.eventId === `${t.id}-2`;
      },
      5_000,
      'the older completed job to be trimmed',
    );
  });
});
