import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../src/db/client.js';
import { storeDetections, storeForPublicationSql } from '../src/db/detections.js';
import { createPubSub, type AlertPubSub, type DetectionMessage } from '../src/pubsub/topics.js';
import { createRedis } from '../src/redis/connections.js';
import { createLogger } from '../src/runtime/logger.js';
import { classifyDetection } from '../src/schema/classify.js';
import type { PatternEvent } from '../src/schema/events.js';
import { createDetectionWriter } from '../src/workers/detection-writer.js';
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

describe('storeDetections', () => {
  it('inserts a batch once, reports repeats as not inserted, and counts definitions', async () => {
    const db = await openDatabase();
    const id = uniqueId('batch');
    const items = [event(`${id}-a`, 'Hammer', '1d'), event(`${id}-b`, 'Hammer', '5m'), event(`${id}-a`, 'Hammer', '1d')].map((e) => ({
      event: e,
      classification: classifyDetection(e),
    }));
    const first = await storeDetections(db.db, items);
    expect(first.map((r) => r.inserted)).toEqual([true, true, false]);
    expect(first[2]!.row.id).toBe(first[0]!.row.id);
    const again = await storeDetections(db.db, items.slice(0, 2));
    expect(again.map((r) => r.inserted)).toEqual([false, false]);
    expect(again.map((r) => r.row.id)).toEqual(first.slice(0, 2).map((r) => r.row.id));
    const defs = await db.db.query.patternDefinitions.findFirst({ where: (d, { eq }) => eq(d.name, 'Hammer') });
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
    await listener.subscribe('patternAlert', (m: DetectionMessage) => m.eventId.startsWith(run) && received.push(Number(m.id)));
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
    await waitFor(() => received.length >= N, { timeoutMs: 5_000, intervalMs: 20, what: `${N} published` }).catch(() => undefined);
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
    await listener.subscribe('patternAlert', (m: DetectionMessage) => received.push(Number(m.id)));
    const run = uniqueId('orphans');
    // What a writer killed between commit and publish leaves: stored rows above the cursor.
    const orphans = await storeDetections(
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
    await waitFor(() => received.length >= 5, { timeoutMs: 3_000, intervalMs: 20, what: 'the orphans, the fresh row and the marker' }).catch(() => undefined);
    const orphanIds = orphans.map((o) => o.row.id);
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
      const result = await tx.execute(sql`EXPLAIN (FORMAT JSON) ${storeForPublicationSql([{ event: e, classification: classifyDetection(e) }])}`);
      return ((result as unknown as { rows: { 'QUERY PLAN': { Plan: PlanNode }[] }[] }).rows[0]!['QUERY PLAN'][0]!).Plan;
    });
    const nodes: PlanNode[] = [];
    const walk = (n: PlanNode) => {
      nodes.push(n);
      n.Plans?.forEach(walk);
    };
    walk(plan);
    // The bound is an index condition (a plain or bitmap index scan), not a filter over every row.
    const conditions = nodes.map((n) => n['Index Cond']).filter(Boolean);
    expect(conditions.some((c) => /^\(id > \$\d+\)$/.test(c!)), `index conditions: ${conditions.join(', ')}`).toBe(true);
    expect(nodes.filter((n) => n['Join Filter']?.includes('last_published_id'))).toEqual([]);
  });
});
