/**
 * `npm run bench:inbox-plans [-- --rows N]`
 *
 * The PostgreSQL plans of the inbox's reads (src/db/inbox.ts: the `myAlerts` replay, `unread`,
 * a page of `inbox.alerts`), run on a fresh database filled with N detections (default 500,000)
 * for two users: a typical one (10 watchlists, half symbol lists, half tier/priority only) and
 * the heaviest one allowed (50 watchlists of 500 symbols). Prints EXPLAIN (ANALYZE, BUFFERS) of
 * exactly the SQL the API sends, built by the same functions.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDatabase } from '../src/db/client.js';
import { inboxQueries } from '../src/db/inbox.js';
import type { SavedWatchlist } from '../src/domain/watchlist-index.js';
import type { WatchlistFilter } from '../src/schema/db.js';
import { ADMIN_DATABASE_URL } from '../test/utils/env.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '500000' } } });
const rows = Number(values.rows);
const name = `pw_inbox_plans_${process.pid}`;
const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = ADMIN_DATABASE_URL.replace(/\/[^/]*$/, `/${name}`);
const database = await createDatabase({ url, dataDir: '.data', poolSize: 2 });
const direct = new pg.Client({ connectionString: url });

try {
  await database.migrate();
  await direct.connect();
  // 2,000 symbols, three tiers, confidence spread evenly: priorities follow from it.
  await direct.query(
    `INSERT INTO pattern_detections (event_id, symbol, pattern, confidence, tier, priority, detected_at, received_at, source)
     SELECT 'e' || i, 'S' || (i % 2000), (ARRAY['BreakoutBO','Doji','Hammer','BullFlag'])[1 + i % 4],
            c, (ARRAY['DAILY','INTRADAY','COMBO'])[1 + i % 3]::pattern_tier,
            (CASE WHEN c >= 0.9 THEN 'CRITICAL' WHEN c >= 0.8 THEN 'HIGH' WHEN c >= 0.7 THEN 'MEDIUM' ELSE 'LOW' END)::pattern_priority,
            now() - (${rows} - i) * interval '1 second', now(), 'plans'
     FROM (SELECT i, (i::bigint * 7919 % 1000) / 1000.0 AS c FROM generate_series(1, ${rows}) i) g`,
  );
  await direct.query('ANALYZE pattern_detections');

  const none: WatchlistFilter = { symbols: null, patterns: null, tiers: null, minConfidence: null, minPriority: null };
  const typical: SavedWatchlist[] = Array.from({ length: 10 }, (_, i) => ({
    id: i + 1,
    filter:
      i % 2 === 0
        ? { ...none, symbols: Array.from({ length: 20 }, (_, s) => `S${(i * 37 + s * 11) % 2000}`) }
        : { ...none, tiers: [(['DAILY', 'INTRADAY', 'COMBO'] as const)[i % 3]!], minPriority: 'CRITICAL' },
  }));
  const heaviest: SavedWatchlist[] = Array.from({ length: 50 }, (_, i) => ({
    id: 100 + i,
    filter: { ...none, symbols: Array.from({ length: 500 }, (_, s) => `S${(i * 500 + s) % 2000}`) },
  }));
  // Two symbols, 0.1 % of the detections.
  const rare: SavedWatchlist[] = [{ id: 200, filter: { ...none, symbols: ['S5', 'S6'] } }];
  // A minimum priority alone, which no index serves: a tenth of the detections are CRITICAL.
  const criticals: SavedWatchlist[] = [{ id: 300, filter: { ...none, minPriority: 'CRITICAL' } }];
  // Unread since 10,000 detections ago; the replay cap and count cap of the contract.
  const after = rows - 10_000;
  for (const [who, list] of [
    ['typical user (10 watchlists)', typical],
    ['heaviest user (50 × 500 symbols)', heaviest],
    ['user of two rare symbols', rare],
    ['user of every CRITICAL', criticals],
  ] as const) {
    for (const [what, query] of [
      ['replay (myAlerts, INBOX_REPLAY_MAX 1000)', inboxQueries.unacknowledged(database.db, list, after, 1_000)],
      ['unread (cap 10,000)', inboxQueries.unread(database.db, list, after, 10_000)],
      ['inbox.alerts(first: 50)', inboxQueries.page(database.db, list, 50, null)],
    ] as const) {
      const { sql, params } = query.toSQL();
      const plan = await direct.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`, params);
      console.log(`\n## ${who}: ${what}\n`);
      for (const line of plan.rows)
        console.log(line['QUERY PLAN'].length > 160 ? `${line['QUERY PLAN'].slice(0, 157)}...` : line['QUERY PLAN']);
    }
  }
} finally {
  await direct.end().catch(() => undefined);
  await database.close();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
