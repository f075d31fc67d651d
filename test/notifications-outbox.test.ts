import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../src/db/client.js';
import { storeForPublication } from '../src/db/detection-store.js';
import { createUser } from '../src/db/identity.js';
import { createRule, type CreatedDelivery } from '../src/db/notifications.js';
import { createWatchlist, updateWatchlist } from '../src/db/watchlists.js';
import { classifyDetection } from '../src/domain/classify.js';
import { createLogger } from '../src/lib/logger.js';
import { createDeliveryOutbox } from '../src/notifications/outbox.js';
import { createPubSub } from '../src/pubsub/pubsub.js';
import { createRedis } from '../src/redis/connections.js';
import { patternDetections } from '../src/schema/db.js';
import type { PatternEvent } from '../src/schema/events.js';
import { createDetectionWriter } from '../src/workers/store/detection-writer.js';
import { createDisposers, createTestDatabase, REDIS_URL, uniqueId } from './utils/env.js';

/**
 * The outbox on the writer's side (notifications/outbox.ts), against PostgreSQL: deliveries are
 * made for what a crashed writer left behind, never twice when a page is published again, only
 * for detections above the rule's start, and with the rules as they are now (the version).
 */
const disposers = createDisposers();
afterAll(() => disposers.run());
const logger = createLogger('silent');
let database: Database;

beforeAll(async () => {
  const url = await createTestDatabase(disposers, 'outbox');
  database = await createDatabase({ url, dataDir: '.data', poolSize: 4 });
  disposers.add(() => database.close());
  await database.migrate();
});

function event(eventId: string, symbol: string, confidence: number): PatternEvent {
  const now = new Date().toISOString();
  return {
    kind: 'pattern',
    eventId,
    symbol,
    pattern: 'BreakoutBO',
    confidence,
    tierHint: null,
    sourceHint: null,
    timeframe: '1d',
    category: null,
    price: null,
    detectedAt: now,
    receivedAt: now,
    expiresAt: null,
    source: 'outbox-test',
    metadata: {},
  };
}
const toStore = (e: PatternEvent) => ({ event: e, classification: classifyDetection(e) });

function setup() {
  const queued: CreatedDelivery[] = [];
  const outbox = createDeliveryOutbox({
    enqueue: (d) => {
      queued.push(...d);
      return Promise.resolve();
    },
    capWindowMs: 3_600_000,
    logger,
  });
  const prefix = uniqueId('pwt-outbox');
  const redis = { url: REDIS_URL, clusterNodes: null };
  const pubsub = createPubSub(createRedis(redis, 'publisher', logger), createRedis(redis, 'subscriber', logger), prefix);
  disposers.add(() => pubsub.close());
  return { queued, outbox, writer: createDetectionWriter({ database, pubsub, outbox }) };
}

async function ruleOn(symbols: string[], minPriority: 'CRITICAL' | 'HIGH' = 'HIGH') {
  const user = (await createUser(database.db, uniqueId('u').toLowerCase(), 'READER'))!;
  const filter = { symbols, patterns: null, tiers: null, minConfidence: null, minPriority: null };
  const watchlist = (await createWatchlist(database.db, user.id, 'w', filter, 50))!;
  const created = await database.withWriteLock((db) =>
    createRule(
      db,
      {
        userId: user.id,
        watchlistId: watchlist.id,
        channel: 'WEBHOOK',
        target: 'https://example.com/',
        minPriority,
        maxPerHour: 1000,
        secret: 'plain:whsec_x',
      },
      { perUser: 20, perWatchlist: 5 },
    ),
  );
  if (!created.ok) throw new Error(created.reason);
  return { rule: created.rule, watchlist, user };
}

async function deliveriesOf(ruleId: number): Promise<{ detection_id: string; status: string }[]> {
  const r = await database.db.execute(
    sql`select detection_id::text, status::text from notification_deliveries where rule_id = ${ruleId} and kind = 'ALERT' order by detection_id`,
  );
  return (r as { rows: { detection_id: string; status: string }[] }).rows;
}

describe('the notification outbox', () => {
  it('makes the deliveries of rows a crashed writer left unpublished, and none twice when a page goes out again', async () => {
    const { queued, outbox, writer } = setup();
    const sym = uniqueId('S').toUpperCase().slice(0, 12);
    const { rule } = await ruleOn([sym]);
    // A writer killed between commit and publish: stored, above the cursor.
    const orphans = await storeForPublication(database.db, [
      toStore(event(uniqueId('o1'), sym, 0.95)),
      toStore(event(uniqueId('o2'), sym, 0.5)),
    ]);
    await writer.write(toStore(event(uniqueId('next'), sym, 0.85)));
    const made = await deliveriesOf(rule.id);
    expect(made.map((d) => d.status)).toEqual(['PENDING', 'PENDING']); // 0.5 is LOW: below HIGH
    expect(made[0]!.detection_id).toBe(String(orphans.rows[0]!.id));
    expect(queued.map((d) => d.kind)).toEqual(['ALERT', 'ALERT']);

    // A writer killed after recording and before moving the cursor: the page is published and
    // recorded again by the next one. Nothing new is made, nothing queued again.
    const page = await database.db
      .select()
      .from(patternDetections)
      .where(eq(patternDetections.symbol, sym))
      .orderBy(asc(patternDetections.id));
    expect(page).toHaveLength(3);
    const before = queued.length;
    await database.withWriteLock((db) => outbox.record(db, page, undefined));
    expect(await deliveriesOf(rule.id)).toEqual(made);
    expect(queued.length).toBe(before);
  });

  it('applies a rule only to detections stored after it, and follows a watchlist’s change at the next batch', async () => {
    const { queued, writer } = setup();
    const a = uniqueId('A').toUpperCase().slice(0, 12);
    const b = uniqueId('B').toUpperCase().slice(0, 12);
    await writer.write(toStore(event(uniqueId('early'), a, 0.95)));
    const { rule, watchlist, user } = await ruleOn([a]);
    await writer.write(toStore(event(uniqueId('late'), a, 0.95)));
    await writer.write(toStore(event(uniqueId('other'), b, 0.95)));
    expect(await deliveriesOf(rule.id)).toHaveLength(1);

    // The watchlist now watches b instead: the next batch matches by the new filter.
    await updateWatchlist(database.db, user.id, watchlist.id, 'w', {
      symbols: [b],
      patterns: null,
      tiers: null,
      minConfidence: null,
      minPriority: null,
    });
    await writer.write(toStore(event(uniqueId('a-again'), a, 0.95)));
    await writer.write(toStore(event(uniqueId('b-now'), b, 0.95)));
    const made = await deliveriesOf(rule.id);
    expect(made).toHaveLength(2);
    expect(queued).toHaveLength(2);

    // Disabled: no more deliveries, at once.
    await database.db.execute(sql`update notification_rules set enabled = false where id = ${rule.id}`);
    await writer.write(toStore(event(uniqueId('b-off'), b, 0.95)));
    expect(await deliveriesOf(rule.id)).toHaveLength(2);
  });
});
