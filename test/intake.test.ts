import { afterAll, describe, expect, it } from 'vitest';
import { createRedis } from '../src/redis/connections.js';
import { createLogger } from '../src/lib/logger.js';
import type { DetectionBatch } from '../src/schema/events.js';
import { createJobIntake } from '../src/workers/ingest/job-intake.js';
import { createQueues, type Queues } from '../src/queues/queues.js';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';

// The intake against a real Redis, no worker: what it puts in the queues is read back as is.
const disposers = createDisposers();
const logger = createLogger('silent');
afterAll(() => disposers.run());

async function setUp(label: string, maxEventsPerJob?: number, maxRejectsPerJob?: number) {
  const t = await createTestEnv(disposers, label);
  const producer = createRedis({ url: REDIS_URL, clusterNodes: null }, 'producer', logger);
  disposers.add(() => void producer.disconnect());
  const queues: Queues = createQueues(
    producer,
    { prefix: t.config.queuePrefix, attempts: 3, backoffMs: 100, completedRetentionSeconds: 60 },
    logger,
  );
  disposers.add(() => queues.close());
  const intake = createJobIntake({ queues, channels: t.config.channels, logger, maxEventsPerJob, maxRejectsPerJob });
  const detection = (i: number) =>
    Buffer.from(JSON.stringify({ event_id: `${t.id}-${i}`, pattern: 'Doji', symbol: 'AAPL', confidence: 0.7 }));
  const batches = async () => {
    const jobs = await queues.detections.getJobs(['waiting'], 0, -1, true);
    return jobs.filter((j) => j.name === 'detections').map((j) => (j.data as DetectionBatch).events.map((e) => e.eventId));
  };
  /** The rejects queued, one array of reasons per `rejects` job, oldest job first. */
  const rejectJobs = async () => {
    const jobs = await queues.rejects.getJobs(['waiting'], 0, -1, true);
    return jobs.map((j) => j.data.rejects);
  };
  return { t, queues, intake, detection, batches, rejectJobs };
}

describe('intake', () => {
  it('sends light traffic one detection per job, at once', async () => {
    const { t, intake, detection, batches } = await setUp('intake-light');
    for (let i = 0; i < 5; i++) expect(await intake.accept(t.config.channels.patterns, detection(i))).toBe(true);
    expect(await batches()).toEqual([0, 1, 2, 3, 4].map((i) => [`${t.id}-${i}`]));
  });

  it('groups what arrives while a job is being added, in arrival order, at most maxEventsPerJob a job', async () => {
    const { t, intake, detection, batches } = await setUp('intake-flood', 40);
    const N = 300;
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => intake.accept(t.config.channels.patterns, detection(i))),
    );
    expect(results.every(Boolean)).toBe(true);
    const groups = await batches();
    // The first message finds nothing in flight and goes alone; the rest wait for it and share jobs.
    expect(groups[0]).toEqual([`${t.id}-0`]);
    expect(groups.length).toBe(1 + Math.ceil((N - 1) / 40));
    expect(Math.max(...groups.map((g) => g.length))).toBe(40);
    expect(groups.flat()).toEqual(Array.from({ length: N }, (_, i) => `${t.id}-${i}`));
    expect(intake.stats()).toMatchObject({ received: N, accepted: N, rejected: 0, dropped: 0 });
  });

  it('keeps one job per control message, with the dedup key as job id; rejects go to their own queue', async () => {
    const { t, queues, intake, rejectJobs } = await setUp('intake-control');
    const progress = Buffer.from(JSON.stringify({ id: `${t.id}-p1`, job_id: 'bt-1', progress: 0.5, status: 'running' }));
    expect(await intake.accept(t.config.channels.backtestProgress, progress)).toBe(true);
    expect(await intake.accept(t.config.channels.backtestProgress, progress)).toBe(true);
    expect(await intake.accept(t.config.channels.patterns, Buffer.from('not json'))).toBe(true);
    expect(await intake.accept(t.config.channels.patterns, Buffer.from('not json'))).toBe(true);
    const control = await queues.control.getJobs(['waiting']);
    expect(control.map((j) => j.id)).toEqual([`backtestProgress-${t.id}-p1`]);
    // Both copies are queued (a group is no dedup unit); the unique event_id stores them once.
    const rejects = (await rejectJobs()).flat();
    expect(rejects).toHaveLength(2);
    expect(new Set(rejects.map((r) => r.eventId)).size).toBe(1);
    expect(await queues.detections.getJobs(['waiting'])).toHaveLength(0);
    expect(intake.stats()).toMatchObject({ received: 4, accepted: 2, rejected: 2 });
  });

  it('turns what PostgreSQL could not store, and a statusless health probe, into rejects at the door', async () => {
    const { t, queues, intake, rejectJobs } = await setUp('intake-door');
    const nul = String.raw`{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"metadata":{"note":"a\u0000b"}}`;
    expect(await intake.accept(t.config.channels.patterns, Buffer.from(nul))).toBe(true);
    expect(await intake.accept(t.config.channels.health, Buffer.from('{"test":"health_check"}'))).toBe(true);
    const rejects = (await rejectJobs()).flat();
    expect(rejects.map((r) => r.reason).sort()).toEqual([
      'metadata.note holds a NUL character (\\u0000), which PostgreSQL cannot store',
      'status is required',
    ]);
    expect(await queues.control.getJobs(['waiting'])).toHaveLength(0);
    expect(intake.stats()).toMatchObject({ received: 2, accepted: 0, rejected: 2 });
  });

  it('groups rejects apart from detections, bounded in count and in payload bytes', async () => {
    const { t, intake, detection, batches, rejectJobs } = await setUp('intake-rejects', 100, 50);
    const N = 301;
    const garbage = (i: number) => Buffer.from(`garbage ${t.id} ${i}`);
    const big = (i: number) => Buffer.alloc(60 * 1024, 65 + (i % 26)); // 80 KiB of base64 each
    const results = await Promise.all([
      ...Array.from({ length: N }, (_, i) => intake.accept(t.config.channels.patterns, garbage(i))),
      intake.accept(t.config.channels.patterns, detection(0)),
      ...Array.from({ length: 20 }, (_, i) => intake.accept(t.config.channels.patterns, big(i))),
    ]);
    expect(results.every(Boolean)).toBe(true);
    // The detection went at once, alone, in its own queue: no reject stands in front of it.
    expect(await batches()).toEqual([[`${t.id}-0`]]);
    const jobs = await rejectJobs();
    expect(jobs.flat()).toHaveLength(N + 20);
    expect(jobs[0]).toHaveLength(1);
    expect(Math.max(...jobs.map((j) => j.length))).toBe(50);
    for (const j of jobs) expect(j.reduce((n, r) => n + r.payloadBase64.length, 0)).toBeLessThanOrEqual(1024 * 1024);
    // Arrival order is kept across jobs.
    expect(
      jobs
        .flat()
        .slice(0, N)
        .map((r) => Buffer.from(r.payloadBase64, 'base64').toString()),
    ).toEqual(Array.from({ length: N }, (_, i) => garbage(i).toString()));
    expect(intake.stats()).toMatchObject({ received: N + 21, accepted: 1, rejected: N + 20, dropped: 0 });
  });
});
