/**
 * History: bulk-load detections straight into pattern_detections (one INSERT … SELECT
 * generate_series per chunk), VACUUM ANALYZE, then sequential HTTP queries of three kinds,
 * timed from request to fully read body on the client.
 */
import { makeSymbols, PATTERNS } from '../lib/load.js';
import { authHeaders } from '../lib/credential.js';
import { distribution, round, sleep } from '../lib/util.js';
import { aggregateRuns, atMost, rowsFor, zero } from './aggregate.js';
import type { BenchContext, MetricDef, ScenarioReport } from './types.js';

export interface HistoryOptions {
  rows: number;
  queries: number;
  symbols: number;
  days: number;
  warmupQueries: number;
}

const CHUNK = 200_000;

/** Loads `rows` detections spread over `days` days, ~`symbols` symbols (skewed), 30 patterns, 3 tiers. */
async function bulkLoad(ctx: BenchContext, o: HistoryOptions, symbols: string[]): Promise<{ ms: number; total: number }> {
  const started = performance.now();
  const tag = `${ctx.env.id}-hist`;
  for (let start = 1; start <= o.rows; start += CHUNK) {
    const end = Math.min(o.rows, start + CHUNK - 1);
    await ctx.pw.pool.query(
      `INSERT INTO pattern_detections
         (event_id, symbol, pattern, confidence, tier, priority, timeframe, category, price,
          detected_at, received_at, source, metadata)
       SELECT $1 || '-' || g,
              ($2::text[])[1 + floor(array_length($2::text[], 1) * power(r_sym, 1.6))::int],
              ($3::text[])[1 + floor(array_length($3::text[], 1) * r_pat)::int],
              c,
              t::pattern_tier,
              (CASE WHEN c >= 0.9 THEN 'CRITICAL' WHEN c >= 0.8 THEN 'HIGH' WHEN c >= 0.7 THEN 'MEDIUM' ELSE 'LOW' END)::pattern_priority,
              CASE t WHEN 'INTRADAY' THEN (ARRAY['1min','5min','15min','1h'])[1 + (g % 4)] ELSE '1d' END,
              CASE t WHEN 'COMBO' THEN 'combo' ELSE 'technical' END,
              round((10 + r_pat * 490)::numeric, 2)::double precision,
              at,
              at + interval '40 milliseconds',
              'bench-history',
              jsonb_build_object('volume', (r_sym * 1e6)::int, 'rsi', round((r_pat * 100)::numeric, 1))
         FROM (
           SELECT g, r_sym, r_pat,
                  round((0.5 + 0.5 * random())::numeric, 3)::double precision AS c,
                  CASE WHEN r_tier < 0.5 THEN 'DAILY' WHEN r_tier < 0.85 THEN 'INTRADAY' ELSE 'COMBO' END AS t,
                  now() - make_interval(days => $4) * (1 - g::double precision / $5) - random() * interval '10 minutes' AS at
             FROM (SELECT g, random() AS r_sym, random() AS r_pat, random() AS r_tier
                     FROM generate_series($6::bigint, $7::bigint) AS g) AS raw
         ) AS s`,
      [tag, symbols, [...PATTERNS], o.days, o.rows, start, end],
    );
    ctx.log(`  history: loaded ${end.toLocaleString('en-US')} of ${o.rows.toLocaleString('en-US')} rows`);
  }
  // The pattern definitions a real history would have.
  await ctx.pw.pool.query(
    `INSERT INTO pattern_definitions (name, category, timeframes, detections, first_seen_at, last_seen_at)
     SELECT pattern, min(category), array_agg(DISTINCT timeframe), count(*), min(detected_at), max(detected_at)
       FROM pattern_detections WHERE source = 'bench-history' GROUP BY pattern
     ON CONFLICT (name) DO UPDATE SET detections = pattern_definitions.detections + excluded.detections`,
  );
  // Loaded history is not news: mark it published, or the next writer batch would broadcast every
  // bulk-loaded row to live subscribers (the writer publishes all rows above publication_cursor).
  await markPublished(ctx);
  // A table at steady state has been vacuumed and analysed (visibility map, statistics).
  await ctx.pw.pool.query('VACUUM (ANALYZE) pattern_detections');
  const total = await ctx.pw.pool.query<{ n: string }>('SELECT count(*) AS n FROM pattern_detections');
  return { ms: performance.now() - started, total: Number(total.rows[0]!.n) };
}

async function markPublished(ctx: BenchContext): Promise<void> {
  try {
    await ctx.pw.pool.query(
      `UPDATE publication_cursor
          SET last_published_id = greatest(last_published_id, (SELECT coalesce(max(id), 0) FROM pattern_detections))
        WHERE id = 1`,
    );
  } catch (err) {
    // A schema without the publication cursor publishes only what its writer stores.
    if ((err as { code?: string }).code !== '42P01') throw err;
  }
}

interface Timed {
  ms: number;
  ok: boolean;
  rows: number;
  error?: string;
}

async function timed(fn: () => Promise<Response>, count: (body: unknown) => number): Promise<Timed> {
  const t = performance.now();
  try {
    const res = await fn();
    const text = await res.text();
    const ms = performance.now() - t;
    const body = JSON.parse(text) as { errors?: { message: string }[] };
    if (res.status !== 200 || body.errors?.length)
      return { ms, ok: false, rows: 0, error: `${res.status} ${text.slice(0, 200)}` };
    return { ms, ok: true, rows: count(body) };
  } catch (err) {
    return { ms: performance.now() - t, ok: false, rows: 0, error: (err as Error).message };
  }
}

const DAILY_QUERY = `query Daily($filter: PatternFilter) {
  dailyPatterns(filter: $filter, first: 50) {
    nodes { id eventId symbol pattern confidence tier priority detectedAt metadata }
    pageInfo { hasNextPage endCursor }
  }
}`;
const PAGE_QUERY = `query Page($after: String) {
  patterns(first: 50, after: $after) {
    nodes { id eventId symbol pattern confidence tier priority detectedAt metadata }
    pageInfo { hasNextPage endCursor }
  }
}`;

type QueryKind = 'dailyPatterns' | 'patternsPaged' | 'rest';

export async function history(ctx: BenchContext, o: HistoryOptions): Promise<ScenarioReport> {
  const symbols = makeSymbols(o.symbols);
  ctx.log(`  history: bulk-loading ${o.rows.toLocaleString('en-US')} detections…`);
  const load = await bulkLoad(ctx, o, symbols);
  ctx.log(
    `  history: loaded in ${(load.ms / 1000).toFixed(1)} s (table now ${load.total.toLocaleString('en-US')} rows), VACUUM ANALYZE done`,
  );

  const http = ctx.pw.httpUrl;
  const post = (query: string, variables: Record<string, unknown>) => () =>
    fetch(`${http}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...authHeaders() },
      body: JSON.stringify({ query, variables }),
    });
  const nodes = (field: string) => (b: unknown) =>
    (b as { data: Record<string, { nodes: unknown[] }> }).data[field]?.nodes.length ?? 0;
  let pick = 0;
  const nextSymbol = () => symbols[(pick = (pick * 1103515245 + 12345) % 2147483648) % symbols.length]!;

  const kinds: Record<QueryKind, { label: string; unit: string; next: () => Promise<Timed> }> = {
    dailyPatterns: {
      label: 'dailyPatterns(symbols:[1], first:50)',
      unit: 'ms',
      next: () => timed(post(DAILY_QUERY, { filter: { symbols: [nextSymbol()] } }), nodes('dailyPatterns')),
    },
    patternsPaged: {
      label: 'patterns(first:50, after) paging',
      unit: 'ms',
      next: (() => {
        let after: string | null = null;
        return async () => {
          let cursor: string | null = null;
          const r = await timed(post(PAGE_QUERY, { after }), (b) => {
            const page = (
              b as { data: { patterns: { nodes: unknown[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } } }
            ).data.patterns;
            cursor = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
            return page.nodes.length;
          });
          after = cursor; // back to the newest page at the end
          return r;
        };
      })(),
    },
    rest: {
      label: 'REST /api/patterns/daily?symbols=X',
      unit: 'ms',
      next: () =>
        timed(
          () => fetch(`${http}/api/patterns/daily?symbols=${nextSymbol()}`, { headers: authHeaders() }),
          (b) => (b as { patterns: unknown[] }).patterns.length,
        ),
    },
  };

  const runs: Record<string, unknown>[] = [];
  const flat: Record<string, number | null>[] = [];
  for (let run = 1; run <= ctx.runs; run++) {
    const summary: Record<string, unknown> = { run };
    const figures: Record<string, number | null> = {};
    for (const [kind, k] of Object.entries(kinds) as [QueryKind, (typeof kinds)[QueryKind]][]) {
      for (let i = 0; i < o.warmupQueries; i++) await k.next();
      const ms: number[] = [];
      let failures = 0;
      let rows = 0;
      let firstError: string | undefined;
      for (let i = 0; i < o.queries; i++) {
        const r = await k.next();
        ms.push(r.ms);
        rows += r.rows;
        if (!r.ok) {
          failures++;
          firstError ??= r.error;
        }
      }
      const d = distribution(Float64Array.from(ms).sort());
      summary[kind] = { queries: o.queries, failures, firstError, meanRows: round(rows / o.queries, 1), ...roundAll(d) };
      figures[`${kind}.p50`] = d.p50;
      figures[`${kind}.p95`] = d.p95;
      figures[`${kind}.p99`] = d.p99;
      figures[`${kind}.failures`] = failures;
      figures[`${kind}.rows`] = rows / o.queries;
      ctx.log(
        `  history run ${run} ${kind.padEnd(14)} p50 ${d.p50?.toFixed(2)} ms, p95 ${d.p95?.toFixed(2)} ms, p99 ${d.p99?.toFixed(2)} ms, failures ${failures}, mean rows ${(rows / o.queries).toFixed(1)}`,
      );
      await sleep(100);
    }
    runs.push(summary);
    flat.push(figures);
  }

  const defs: MetricDef[] = [];
  for (const [kind, k] of Object.entries(kinds) as [QueryKind, (typeof kinds)[QueryKind]][]) {
    const limit = kind === 'rest' ? 20 : 10;
    defs.push(
      { key: `${kind}.p50`, label: `${k.label} p50`, unit: 'ms', pwOnly: true },
      { key: `${kind}.p95`, label: `${k.label} p95`, unit: 'ms', pwOnly: true },
      { key: `${kind}.p99`, label: `${k.label} p99`, unit: 'ms', target: `≤ ${limit} ms`, check: atMost(limit), pwOnly: true },
      {
        key: `${kind}.failures`,
        label: `${k.label} failed requests`,
        unit: '',
        agg: 'sum',
        target: '0',
        check: zero,
        pwOnly: true,
      },
    );
  }
  const aggregated = aggregateRuns(defs, { patternwire: flat, baseline: [] });
  return {
    scenario: 'history',
    params: { ...o, loadSeconds: round(load.ms / 1000, 1), tableRows: load.total },
    runs,
    aggregated,
    rows: rowsFor('history', defs, aggregated, ctx.runs),
    notes: [
      `${o.rows.toLocaleString('en-US')} rows bulk-loaded (INSERT … SELECT generate_series, chunks of ${CHUNK.toLocaleString('en-US')}), then VACUUM (ANALYZE)`,
      `${o.queries} sequential requests per kind per run after ${o.warmupQueries} warm-up requests; client-side time to the last byte (keep-alive fetch)`,
    ],
  };
}

function roundAll(d: object): Record<string, number | null> {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, k === 'count' ? (v as number) : round(v as number | null, 3)]));
}
