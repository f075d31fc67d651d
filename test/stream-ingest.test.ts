import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { DetectionBatch } from '../src/schema/events.js';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';
import { eventually, gql } from './utils/graphql.js';
import { startTestSystem } from './utils/system.js';

const disposers = createDisposers();
afterAll(() => disposers.run());

const detection = (eventId: string, symbol = 'XOM') =>
  JSON.stringify({ event_id: eventId, pattern: 'Doji', symbol, confidence: 0.7 });

async function storedEventIds(httpUrl: string, symbol: string): Promise<string[]> {
  const { body } = await gql<{ patterns: { nodes: { eventId: string }[] } }>(
    httpUrl,
    `query($s: [String!]) { patterns(filter: { symbols: $s }, first: 500) { nodes { eventId } } }`,
    { s: [symbol] },
  );
  return body.data!.patterns.nodes.map((n) => n.eventId).sort();
}

describe('stream ingest (INGEST_STREAMS=true)', () => {
  it('reads what was added while no ingest ran, takes over a dead consumer’s entries, and stores each message once', async () => {
    const t = await createTestEnv(disposers, 'streams', { INGEST_STREAMS: 'true', INGEST_STREAM_CLAIM_MS: '500' });
    const stream = t.config.channels.patterns;
    const redis = new Redis(REDIS_URL);
    disposers.add(async () => {
      await redis.del(...Object.values(t.config.channels));
      redis.disconnect();
    });

    // 1. Delivered to a consumer that then died without acknowledging.
    await redis.xgroup('CREATE', stream, t.config.streams.group, '$', 'MKSTREAM');
    for (let i = 0; i < 3; i++) await redis.xadd(stream, '*', 'message', detection(`${t.id}-orphan-${i}`));
    const stolen = (await redis.xreadgroup(
      'GROUP',
      t.config.streams.group,
      'dead-consumer',
      'COUNT',
      100,
      'STREAMS',
      stream,
      '>',
    )) as [string, unknown[]][];
    expect(stolen[0]![1]).toHaveLength(3);
    // 2. Added while no ingest ran (pub/sub would have lost these).
    for (let i = 0; i < 5; i++) await redis.xadd(stream, '*', 'message', detection(`${t.id}-early-${i}`));

    const system = await startTestSystem(disposers, t.config);
    // 3. After start: the same message on the stream and on pub/sub, plus a duplicate entry.
    await redis.xadd(stream, '*', 'message', detection(`${t.id}-both`));
    await redis.publish(stream, detection(`${t.id}-both`));
    await redis.xadd(stream, '*', 'data', detection(`${t.id}-dup`));
    await redis.xadd(stream, '*', 'data', detection(`${t.id}-dup`));

    const expected = [
      ...Array.from({ length: 5 }, (_, i) => `${t.id}-early-${i}`),
      ...Array.from({ length: 3 }, (_, i) => `${t.id}-orphan-${i}`),
      `${t.id}-both`,
      `${t.id}-dup`,
    ].sort();
    await eventually(
      async () => (await storedEventIds(system.httpUrl, 'XOM')).length === expected.length,
      10_000,
      'all stream entries stored',
    );
    expect(await storedEventIds(system.httpUrl, 'XOM')).toEqual(expected);
    // Everything was acknowledged: nothing pending for the group.
    await eventually(
      async () => {
        const [pending] = (await redis.xpending(stream, t.config.streams.group)) as [number];
        return pending === 0;
      },
      5_000,
      'no pending entries',
    );
  });

  it('stops reading the stream while the detections queue is full, and catches up once workers drain it', async () => {
    const MAX_JOBS = 3;
    const N = 2_000;
    const t = await createTestEnv(disposers, 'streamflow', {
      INGEST_STREAMS: 'true',
      INGEST_STREAM_MAX_QUEUED_JOBS: String(MAX_JOBS),
    });
    const stream = t.config.channels.patterns;
    const redis = new Redis(REDIS_URL);
    disposers.add(async () => {
      await redis.del(...Object.values(t.config.channels));
      redis.disconnect();
    });
    // Ingest only: nothing takes jobs off the queue.
    const ingest = await startTestSystem(disposers, t.config, { ingest: true, migrate: true });
    const pipeline = redis.pipeline();
    for (let i = 0; i < N; i++) pipeline.xadd(stream, '*', 'message', detection(`${t.id}-flow-${i}`, 'CVX'));
    await pipeline.exec();

    const queued = async () => {
      const jobs = await ingest.queues.detections.getJobs(['waiting'], 0, -1);
      return { jobs: jobs.length, events: jobs.reduce((n, j) => n + (j.data as DetectionBatch).events.length, 0) };
    };
    await eventually(async () => (await queued()).jobs >= MAX_JOBS, 10_000, 'the queue to reach its bound');
    // Redis shows it stopped reading: its consumer has not called XREADGROUP for longer than a
    // blocking read lasts (1 s), so it is not merely waiting for entries.
    const group = t.config.streams.group;
    await eventually(
      async () => {
        const consumers = (await redis.xinfo('CONSUMERS', stream, group)) as unknown[][];
        const idle = consumers.map((c) => Number(c[c.indexOf('idle') + 1]));
        return idle.length > 0 && idle.every((ms) => ms > 1_500);
      },
      10_000,
      'the ingest to stop reading the stream',
    );
    const held = await queued();
    // One read (≤ 100 entries, so ≤ 2 jobs) may land after the last check below the bound.
    expect(held.jobs).toBeLessThanOrEqual(MAX_JOBS + 1);
    expect(held.events).toBeLessThanOrEqual((MAX_JOBS + 1) * 100);
    expect(held.events).toBeLessThan(N);

    // A worker drains the queue; the ingest reads the rest as room appears.
    await startTestSystem(disposers, t.config, { worker: true });
    const pool = new pg.Pool({ connectionString: t.env['DATABASE_URL'], max: 1 });
    disposers.add(() => pool.end());
    const stored = async () =>
      (
        await pool.query<{ n: string; d: string }>(
          `select count(*) as n, count(distinct event_id) as d from pattern_detections where symbol = 'CVX'`,
        )
      ).rows[0]!;
    await eventually(async () => Number((await stored()).n) >= N, 30_000, `${N} stored`);
    expect(await stored()).toEqual({ n: String(N), d: String(N) });
  });
});
