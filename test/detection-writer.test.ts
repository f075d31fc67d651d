import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../src/db/client.js';
import { storeForPublication, storeForPublicationSql } from '../src/db/detection-store.js';
import { createPubSub, type AlertPubSub } from '../src/pubsub/pubsub.js';
import type { Detection } from '../src/schema/topics.js';
import { createRedis } from '../src/redis/connections.js';
import { createLogger } from '../src/lib/logger.js';
import { classifyDetection } from '../src/domain/classify.js';
import type { PatternEvent } from '../src/schema/events.js';
import { createDetectionWriter } from '../src/workers/store/detection-writer.js';
import { createDisposers, createTestDatabase, REDIS_URL, uniqueId } from './utils/env.js';
import { waitFor } from './utils/wait.js';

const disposers = createDisposers();
const logger = createLogger('silent');
const redis = { url: REDIS_URL, clusterNodes: null };
let databaseUrl: string;
let prefix: string;

beforeAll(async () => {
  databaseUrl = await createTestDatabase(disposers, 'writer');
  prefix = uniqueId('pwt-writer');
  const migrator = await createDatabase({ url: databaseUrl, dataDir: '.data' });
  await migrator.migrate();
  await migrator.close();
});
afterAll(() => disposers.run());

async function openDatabase(): Promise<Database> {
  const db = await createDatabase({ url: databaseUrl, dataDir: '.data', poolSize: 4 });
  disposers.add(() => db.close());
  return db;
}

function openPubSub(): AlertPubSub {
  const ps = createPubSub(createRedis(redis, 'publisher', logger), createRedis(redis, 'subscriber', logger), prefix);
  disposers.add(() => ps.close());
  return ps;
}

function event(eventId: string, pattern = 'Doji', timeframe: string | null = null): PatternEvent {
  const now = new Date().toISOString();
  return {
    kind: 'pattern',
    eventId,
    symbol: 'IBM',
    pattern,
    confidence: 0.75,
    tierHint: null,
    sourceHint: null,
    timeframe,
    category: null,
    price: null,
    detectedAt: now,
    receivedAt: now,
    expiresAt: null,
    source: 'test',
    metadata: {},
  };
}

describe('storing a batch', () => {
  it('inserts each event id once, repeats in the batch or later included, and counts definitions', async () => {
    const db = await openDatabase();
    const id = uniqueId('batch');
    const pattern = `Hammer-${id}`;
    const writer = createDetectionWriter({ database: db, pubsub: openPubSub() });
    const write = (e: PatternEvent) => writer.write({ event: e, classification: classifyDetection(e) });
    // Written together, so they share one batch: the repeat of `-a` inside it is skipped.
    await Promise.all(
      [event(`${id}-a`, pattern, '1d'), event(`${id}-b`, pattern, '5m'), event(`${id}-a`, pattern, '1d')].map(write),
    );
    await write(event(`${id}-b`, pattern, '5m'));
    const rows = await db.db.query.patternDetections.findMany({ where: (d, { like }) => like(d.eventId, `${id}-%`) });
    expect(rows.map((r) => r.eventId).sort()).toEqual([`${id}-a`, `${id}-b`]);
    const defs = await db.db.query.patternDefinitions.findFirst({ where: (d, { eq }) => eq(d.name, pattern) });
    expect(defs).toMatchObject({ detections: 2, timeframes: ['1d', '5m'] });
  });
});

describe('detection writer', () => {
  it('makes ids visible and published in increasing order across two writers (two "processes")', async () => {
    const [dbA, dbB] = await Promise.all([openDatabase(), openDatabase()]);
    const listener = openPubSub();
    const received: number[] = [];
    const run = uniqueId('order');
    // Rows other tests in this file stored without publishing go out too: count only this run's.
    await listener.subscribe('patternAlert', (m: Detection) => m.eventId.startsWith(run) && received.push(m.id));
    const writers = [
      createDetectionWriter({ database: dbA, pubsub: openPubSub(), maxBatch: 7 }),
      createDetectionWriter({ database: dbB, pubsub: openPubSub(), maxBatch: 5 }),
    ];
    const N = 400;
    await Promise.all(
      Array.from({ length: N }, (_, i) => {
        const e = event(`${run}-${i}`);
        return writers[i % 2]!.write({ event: e, classification: classifyDetection(e) });
      }),
    );
    await waitFor(() => received.length >= N, { timeoutMs: 5_000, intervalMs: 20, what: `${N} published` }).catch(
      () => undefined,
    );
    expect(received).toHaveLength(N);
    for (let i = 1; i < received.length; i++) expect(received[i]).toBeGreaterThan(received[i - 1]!);

    // Writing an already-stored event again stores nothing and publishes nothing.
    const e = event(`${run}-0`);
    const before = received.length;
    await writers[0]!.write({ event: e, classification: classifyDetection(e) });
    // A new event through the same writer afterwards: publication is in id order on one
    // connection, so anything the repeat had published would arrive before it.
    const marker = event(`${run}-marker`);
    await writers[0]!.write({ event: marker, classification: classifyDetection(marker) });
    await waitFor(() => received.length > before, { timeoutMs: 5_000, what: 'the marker published after the repeat' });
    expect(received.slice(before)).toHaveLength(1);
    expect(received.at(-1)).toBeGreaterThan(received[before - 1]!);
  });

  it('publishes, first and in order, rows a writer committed but died before publishing', async () => {
    const db = await openDatabase();
    const listener = openPubSub();
    const received: number[] = [];
    await listener.subscribe('patternAlert', (m: Detection) => received.push(m.id));
    const run = uniqueId('orphans');
    // What a writer killed between commit and publish leaves: its statement ran, stored rows
    // above the cursor, and neither the publish nor the cursor move followed.
    const orphans = await storeForPublication(
      db.db,
      [0, 1, 2].map((i) => {
        const e = event(`${run}-orphan-${i}`);
        return { event: e, classification: classifyDetection(e) };
      }),
    );
    // Storing alone publishes nothing, and no writer runs here until the retry below.
    expect(received).toEqual([]);

    // The next write by anyone (here: the dead job's retry, a duplicate) sends them out.
    const retry = event(`${run}-orphan-0`);
    const writer = createDetectionWriter({ database: db, pubsub: openPubSub() });
    await writer.write({ event: retry, classification: classifyDetection(retry) });
    const fresh = event(`${run}-fresh`);
    await writer.write({ event: fresh, classification: classifyDetection(fresh) });
    // One more through the same writer: published in id order on one connection, it comes after
    // anything else that write sent (e.g. the orphans a second time), so its arrival ends the count.
    const marker = event(`${run}-marker`);
    await writer.write({ event: marker, classification: classifyDetection(marker) });
    await waitFor(() => received.length >= 5, {
      timeoutMs: 3_000,
      intervalMs: 20,
      what: 'the orphans, the fresh row and the marker',
    }).catch(() => undefined);
    const orphanIds = orphans.rows.map((o) => o.id);
    expect(received.slice(0, 3)).toEqual(orphanIds);
    expect(received).toHaveLength(5);
    expect(received[3]).toBeGreaterThan(orphanIds[2]!);
    expect(received[4]).toBeGreaterThan(received[3]!);
  });

  it('finds rows left above the cursor with an index range scan, not a walk of the whole table', async () => {
    const db = await openDatabase();
    const e = event(uniqueId('plan'));
    type PlanNode = { 'Index Cond'?: string; 'Join Filter'?: string; Plans?: PlanNode[] };
    const plan = await db.db.transaction(async (tx) => {
      // Without this a table this small is read sequentially whatever the query says.
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      const result = await tx.execute(
        sql`EXPLAIN (FORMAT JSON) ${storeForPublicationSql([{ event: e, classification: classifyDetection(e) }])}`,
      );
      return (result as { rows: { 'QUERY PLAN': { Plan: PlanNode }[] }[] }).rows[0]!['QUERY PLAN'][0]!.Plan;
    });
    const nodes: PlanNode[] = [];
    const walk = (n: PlanNode) => {
      nodes.push(n);
      n.Plans?.forEach(walk);
    };
    walk(plan);
    // The bound is an index condition (a plain or bitmap index scan), not a filter over every row.
    const conditions = nodes.map((n) => n['Index Cond']).filter(Boolean);
    expect(
      conditions.some((c) => /^\(id > \$\d+\)$/.test(c!)),
      `index conditions: ${conditions.join(', ')}`,
    ).toBe(true);
    expect(nodes.filter((n) => n['Join Filter']?.includes('last_published_id'))).toEqual([]);
  });
});
