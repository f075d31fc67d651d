import { desc, eq } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyDetection } from '../src/domain/classify.js';
import { createLogger } from '../src/lib/logger.js';
import { createPubSub } from '../src/pubsub/pubsub.js';
import { createRedis } from '../src/redis/connections.js';
import { patternDetections, type DetectionRow } from '../src/schema/db.js';
import { createDetectionWriter, type DetectionWriter } from '../src/workers/store/detection-writer.js';
import type { PatternEvent } from '../src/schema/events.js';
import { createDisposers, createTestEnv, type TestEnv } from './utils/env.js';
import { collect, createWsClient, gql } from './utils/graphql.js';
import { startTestSystem, type TestSystem } from './utils/system.js';

/**
 * The read side's edges (contract §2 and §3) against the real system: every argument the
 * client can get wrong, masking of server faults, paging and filters over real rows, and the
 * REST compatibility endpoints. Rows are stored by the worker's detection writer.
 */
const disposers = createDisposers();
let t: TestEnv;
let system: TestSystem;
let writer: DetectionWriter;

beforeAll(async () => {
  t = await createTestEnv(disposers, 'apival');
  system = await startTestSystem(disposers, t.config, { api: true, migrate: true });
  const logger = createLogger('silent');
  const pubsub = createPubSub(
    createRedis(t.config.redis, 'publisher', logger),
    createRedis(t.config.redis, 'subscriber', logger),
    t.config.pubsubPrefix,
  );
  disposers.add(() => pubsub.close());
  writer = createDetectionWriter({ database: system.database!, pubsub });
});
afterAll(() => disposers.run());

const DAY = 86_400_000;
const HOUR = 3_600_000;
let seq = 0;

type Seed = Pick<PatternEvent, 'symbol' | 'pattern' | 'confidence'> & {
  tier?: 'daily' | 'intraday' | 'combo';
  detectedAt?: Date;
};

/** Stores one detection as the worker would: classified, with its pattern definition counted. */
async function store(seed: Seed): Promise<DetectionRow> {
  const now = new Date().toISOString();
  const event: PatternEvent = {
    kind: 'pattern',
    eventId: `${t.id}-${++seq}`,
    symbol: seed.symbol,
    pattern: seed.pattern,
    confidence: seed.confidence,
    tierHint: seed.tier ?? null,
    sourceHint: null,
    timeframe: null,
    category: null,
    price: null,
    detectedAt: (seed.detectedAt ?? new Date()).toISOString(),
    receivedAt: now,
    expiresAt: null,
    source: 'api-validation-test',
    metadata: {},
  };
  await writer.write({ event, classification: classifyDetection(event) });
  const [row] = await system.database!.db.select().from(patternDetections).where(eq(patternDetections.eventId, event.eventId));
  return row!;
}

interface GqlError {
  message: string;
  extensions?: Record<string, unknown>;
}

/** The errors of a request that must fail as a client error, each checked for BAD_USER_INPUT. */
async function badInput(query: string, variables?: Record<string, unknown>): Promise<GqlError[]> {
  const { status, body } = await gql(system.httpUrl, query, variables);
  expect(status, JSON.stringify(body)).toBeLessThan(500);
  expect(body.errors?.length, JSON.stringify(body)).toBeGreaterThan(0);
  for (const e of body.errors!) expect(e.extensions?.['code'], JSON.stringify(e)).toBe('BAD_USER_INPUT');
  return body.errors!;
}

describe('GraphQL: arguments the client got wrong are BAD_USER_INPUT and named', () => {
  const cases: [string, string, Record<string, unknown> | undefined, RegExp][] = [
    ['first: 0', '{ patterns(first: 0) { nodes { id } } }', undefined, /\bfirst\b/],
    ['first: 501', '{ patterns(first: 501) { nodes { id } } }', undefined, /\bfirst\b.*500/],
    ['first via a variable as 0', 'query($first: Int) { patterns(first: $first) { nodes { id } } }', { first: 0 }, /\bfirst\b/],
    ['first: 0 on a tier query', '{ comboPatterns(first: 0) { nodes { id } } }', undefined, /\bfirst\b/],
    ['after: "abc"', '{ patterns(after: "abc") { nodes { id } } }', undefined, /\bafter\b/],
    ['after: "-1"', '{ patterns(after: "-1") { nodes { id } } }', undefined, /\bafter\b/],
    ['pattern(id: "x")', '{ pattern(id: "x") { id } }', undefined, /\bid\b/],
    ['filter.minConfidence: 2', '{ patterns(filter: { minConfidence: 2 }) { nodes { id } } }', undefined, /minConfidence/],
    ['filter.since: "yesterday" (literal)', '{ patterns(filter: { since: "yesterday" }) { nodes { id } } }', undefined, /since/],
    [
      'filter.since: "yesterday" (DateTime variable)',
      'query($when: DateTime) { patterns(filter: { since: $when }) { nodes { id } } }',
      { when: 'yesterday' },
      /filter\.since/,
    ],
    [
      'filter: PatternFilter variable with since "yesterday"',
      'query($filter: PatternFilter) { patterns(filter: $filter) { nodes { id } } }',
      { filter: { since: 'yesterday' } },
      /since/,
    ],
    [
      'since after until',
      '{ patterns(filter: { since: "2026-01-02T00:00:00Z", until: "2026-01-01T00:00:00Z" }) { nodes { id } } }',
      undefined,
      /since.*until/,
    ],
    // PostgreSQL text cannot hold NUL, and a lone surrogate is not text: both are the client's to fix.
    [
      'filter.symbols with NUL (variable)',
      'query($f: PatternFilter) { patterns(filter: $f) { nodes { id } } }',
      { f: { symbols: ['IB\u0000M'] } },
      /filter\.symbols/,
    ],
    [
      'filter.symbols with NUL (literal)',
      '{ patterns(filter: { symbols: ["IB\\u0000M"] }) { nodes { id } } }',
      undefined,
      /filter\.symbols/,
    ],
    [
      'filter.patterns with NUL on a tier query',
      'query($f: PatternFilter) { dailyPatterns(filter: $f) { nodes { id } } }',
      { f: { patterns: ['\u0000'] } },
      /filter\.patterns/,
    ],
    [
      'filter.symbols with a lone high surrogate',
      'query($f: PatternFilter) { patterns(filter: $f) { nodes { id } } }',
      { f: { symbols: ['A\ud800'] } },
      /filter\.symbols/,
    ],
    [
      'filter.patterns with a lone low surrogate',
      'query($f: PatternFilter) { patterns(filter: $f) { nodes { id } } }',
      { f: { patterns: ['Doji', '\udc00x'] } },
      /filter\.patterns/,
    ],
    ['rejectedEvents(first: 1000)', '{ rejectedEvents(first: 1000) { id } }', undefined, /\bfirst\b/],
    // Wrong GraphQL types: graphql-js reports these before any resolver runs.
    [
      '$first: Int given "ten"',
      'query($first: Int) { patterns(first: $first) { nodes { id } } }',
      { first: 'ten' },
      /\$first.*"first"/,
    ],
    [
      '$n: Int given 1.5, passed to first',
      'query($n: Int) { patterns(first: $n) { nodes { id } } }',
      { n: 1.5 },
      /argument "first"/,
    ],
    ['first: "ten" (literal)', '{ patterns(first: "ten") { nodes { id } } }', undefined, /argument "first"/],
    [
      'filter.tiers: [WEEKLY] (literal)',
      '{ patterns(filter: { tiers: [WEEKLY] }) { nodes { id } } }',
      undefined,
      /filter\.tiers/,
    ],
    [
      'filter.minConfidence: "high" (literal)',
      '{ patterns(filter: { minConfidence: "high" }) { nodes { id } } }',
      undefined,
      /filter\.minConfidence/,
    ],
    ['filter.bogus (unknown input field)', '{ patterns(filter: { bogus: 1 }) { nodes { id } } }', undefined, /filter.*bogus/],
    ['$id: ID! not provided', 'query($id: ID!) { pattern(id: $id) { id } }', {}, /\$id.*"id"/],
    [
      '$tiers given an unknown enum value',
      'query($t: [Tier!]) { patterns(filter: { tiers: $t }) { nodes { id } } }',
      { t: ['WEEKLY'] },
      /filter\.tiers/,
    ],
    [
      'bad default value of a variable',
      'query($first: Int = "ten") { patterns(first: $first) { nodes { id } } }',
      undefined,
      /\$first/,
    ],
  ];

  it.each(cases)('%s', async (_name, query, variables, names) => {
    const errors = await badInput(query, variables);
    expect(errors[0]!.message).toMatch(names);
  });

  it('keeps the location of a literal of the wrong type', async () => {
    const { body } = await gql(system.httpUrl, '{ patterns(filter: { since: "yesterday" }) { nodes { id } } }');
    expect(body.errors![0]).toMatchObject({ locations: [{ line: 1, column: 29 }] });
  });

  it('leaves other validation errors as GRAPHQL_VALIDATION_FAILED', async () => {
    for (const query of [
      '{ patterns { nodes { nope } } }',
      '{ patterns(bogus: 1) { nodes { id } } }',
      'query($f: Int) { pattern(id: $f) { id } }',
      '{ pattern { id } }',
    ]) {
      const { status, body } = await gql(system.httpUrl, query);
      expect(status, query).toBe(400);
      expect(body.errors?.[0]?.extensions?.['code'], query).toBe('GRAPHQL_VALIDATION_FAILED');
    }
  });

  it('answers a valid request alongside (nothing sticks in the validation cache)', async () => {
    await badInput('{ patterns(first: "ten") { nodes { id } } }');
    const again = await badInput('{ patterns(first: "ten") { nodes { id } } }');
    // A cached validation result is not prefixed twice.
    expect(again[0]!.message).toMatch(/^Invalid value for argument "first": [^:]*: "ten"$/);
    const { body } = await gql(system.httpUrl, '{ patterns(first: 1) { pageInfo { hasNextPage } } }');
    expect(body.errors).toBeUndefined();
  });

  it('does the same over graphql-ws for a subscription', async () => {
    const client = createWsClient(disposers, system.wsUrl);
    const byResolver = collect(client, 'subscription { patternAlert(after: "zz") { id } }');
    const byVariable = collect(client, 'subscription($after: ID) { patternAlert(after: $after) { id } }', {
      after: { not: 'an id' },
    });
    const [result] = await byResolver.waitFor(1);
    expect(result!.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
      message: expect.stringMatching(/\bafter\b/),
    });
    const [variableResult] = await byVariable.waitFor(1);
    expect(variableResult!.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
      message: expect.stringMatching(/\$after.*"after"/),
    });

    // Not text PostgreSQL (or anyone) can store: refused before any replay query.
    for (const symbol of ['A\u0000B', '\ud83d']) {
      for (const after of [null, '0']) {
        const bad = collect(
          client,
          'subscription($f: PatternFilter, $after: ID) { patternAlert(filter: $f, after: $after) { id } }',
          { f: { symbols: [symbol] }, after },
        );
        const [r] = await bad.waitFor(1);
        expect(r!.errors?.[0]).toMatchObject({
          extensions: { code: 'BAD_USER_INPUT' },
          message: expect.stringMatching(/filter\.symbols/),
        });
      }
    }

    // A literal of the wrong type fails validation in onSubscribe: an `error` message.
    const byLiteral = collect(client, 'subscription { patternAlert(filter: { since: "yesterday" }) { id } }');
    await expect.poll(() => byLiteral.errors().length, { timeout: 5_000 }).toBeGreaterThan(0);
    const literalErrors = byLiteral.errors().flat() as GqlError[];
    expect(literalErrors[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
      message: expect.stringMatching(/filter\.since/),
    });
  });
});

describe('GraphQL: unexpected faults are masked', () => {
  let broken: TestSystem;
  let databaseUrl: string;

  beforeAll(async () => {
    const env = await createTestEnv(disposers, 'apimask');
    databaseUrl = env.config.databaseUrl!;
    broken = await startTestSystem(disposers, env.config, { api: true, migrate: true });
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query('DROP TABLE rejected_events');
    await client.end();
  });

  it('answers INTERNAL_SERVER_ERROR with a generic message and logs the cause', async () => {
    const { status, body } = await gql(broken.httpUrl, '{ rejectedEvents(first: 5) { id reason } }');
    expect(status).toBeLessThan(500);
    expect(body.data).toBeNull();
    expect(body.errors).toHaveLength(1);
    const [error] = body.errors!;
    expect(error!.extensions?.['code']).toBe('INTERNAL_SERVER_ERROR');
    expect(error!.message).toBe('Unexpected error.');
    const text = JSON.stringify(body);
    for (const leak of ['rejected_events', 'relation', 'select', 'does not exist', 'stack'])
      expect(text.toLowerCase()).not.toContain(leak);
    // The cause is logged, for the operator.
    expect(broken.logs.some((l) => l.includes('internal error') && l.includes('rejected_events'))).toBe(true);
  });

  it('still reports client errors as they are on the same server', async () => {
    const { body } = await gql(broken.httpUrl, '{ rejectedEvents(first: 0) { id } }');
    expect(body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  });
});

interface Node {
  id: string;
  symbol: string;
  pattern: string;
  tier: string;
  confidence: number;
  priority: string;
  detectedAt: string;
}
interface Connection {
  edges: { cursor: string; node: Node }[];
  nodes: Node[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
const CONNECTION =
  'edges { cursor node { id } } nodes { id symbol pattern tier confidence priority detectedAt } pageInfo { hasNextPage endCursor }';

async function page(field: string, args: Record<string, unknown>): Promise<Connection> {
  const { body } = await gql<Record<string, Connection>>(
    system.httpUrl,
    `query($filter: PatternFilter, $first: Int, $after: String) { ${field}(filter: $filter, first: $first, after: $after) { ${CONNECTION} } }`,
    args,
  );
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data![field]!;
}

describe('GraphQL: paging and filters over real rows', () => {
  let paged: DetectionRow[];
  const f: Record<string, DetectionRow> = {};

  beforeAll(async () => {
    // detectedAt goes backwards while ids go up: the order is by id, not by time.
    paged = [];
    for (let i = 0; i < 7; i++) {
      paged.push(
        await store({ symbol: 'PAGE', pattern: 'Doji', confidence: 0.7, detectedAt: new Date(Date.UTC(2026, 0, 20 - i)) }),
      );
    }
    f['a1'] = await store({
      symbol: 'FLTA',
      pattern: 'BreakoutBO',
      confidence: 0.95,
      tier: 'daily',
      detectedAt: new Date('2026-01-01T00:00:00Z'),
    });
    f['b2'] = await store({
      symbol: 'FLTB',
      pattern: 'Doji',
      confidence: 0.85,
      tier: 'intraday',
      detectedAt: new Date('2026-01-02T00:00:00Z'),
    });
    f['c3'] = await store({
      symbol: 'FLTC',
      pattern: 'ComboX',
      confidence: 0.75,
      tier: 'combo',
      detectedAt: new Date('2026-01-03T00:00:00Z'),
    });
    f['a4'] = await store({
      symbol: 'FLTA',
      pattern: 'doji',
      confidence: 0.65,
      tier: 'daily',
      detectedAt: new Date('2026-01-04T00:00:00Z'),
    });
    f['b5'] = await store({
      symbol: 'FLTB',
      pattern: 'Hammer',
      confidence: 0.55,
      tier: 'intraday',
      detectedAt: new Date('2026-01-05T00:00:00.000Z'),
    });
  });

  const ids = (...keys: string[]) => keys.map((k) => String(f[k]!.id)).sort((a, b) => Number(b) - Number(a));
  const FLT = ['flta', 'FltB', 'fltc'];

  it('serves newest first by id, edges[].cursor is the node id, endCursor the last id', async () => {
    const c = await page('patterns', { filter: { symbols: ['PAGE'] }, first: 3 });
    const expected = [...paged]
      .reverse()
      .slice(0, 3)
      .map((r) => String(r.id));
    expect(c.nodes.map((n) => n.id)).toEqual(expected);
    expect(c.edges.map((e) => e.cursor)).toEqual(expected);
    expect(c.edges.map((e) => e.node.id)).toEqual(expected);
    expect(c.pageInfo).toEqual({ hasNextPage: true, endCursor: expected[2] });
  });

  it('walks a filtered set page by page, each row exactly once', async () => {
    const seen: string[] = [];
    const pages: boolean[] = [];
    let after: string | null = null;
    for (;;) {
      const c: Connection = await page('patterns', { filter: { symbols: ['page'] }, first: 3, after });
      seen.push(...c.nodes.map((n) => n.id));
      pages.push(c.pageInfo.hasNextPage);
      expect(c.pageInfo.endCursor).toBe(c.nodes.at(-1)?.id ?? null);
      if (!c.pageInfo.hasNextPage) break;
      after = c.pageInfo.endCursor;
    }
    expect(pages).toEqual([true, true, false]);
    expect(seen).toEqual([...paged].reverse().map((r) => String(r.id)));
  });

  it('says hasNextPage exactly: false when the page ends on the last row', async () => {
    expect((await page('patterns', { filter: { symbols: ['PAGE'] }, first: 7 })).pageInfo.hasNextPage).toBe(false);
    expect((await page('patterns', { filter: { symbols: ['PAGE'] }, first: 6 })).pageInfo.hasNextPage).toBe(true);
    const last = await page('patterns', { filter: { symbols: ['PAGE'] }, first: 5, after: String(paged[0]!.id) });
    expect(last).toEqual({ edges: [], nodes: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it('walks every stored row exactly once without a filter', async () => {
    const all = await system
      .database!.db.select({ id: patternDetections.id })
      .from(patternDetections)
      .orderBy(desc(patternDetections.id));
    const seen: string[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 100; guard++) {
      const c: Connection = await page('patterns', { first: 4, after });
      seen.push(...c.nodes.map((n) => n.id));
      if (!c.pageInfo.hasNextPage) break;
      after = c.pageInfo.endCursor;
    }
    expect(seen).toEqual(all.map((r) => String(r.id)));
    expect(new Set(seen).size).toBe(seen.length);
  });

  const filterCases: [string, Record<string, unknown>, string[]][] = [
    ['symbols, any case', { symbols: ['flta'] }, ['a1', 'a4']],
    ['patterns, any case both ways', { symbols: FLT, patterns: ['DOJI'] }, ['b2', 'a4']],
    ['tiers', { symbols: FLT, tiers: ['INTRADAY', 'COMBO'] }, ['b2', 'c3', 'b5']],
    ['minConfidence (inclusive)', { symbols: FLT, minConfidence: 0.75 }, ['a1', 'b2', 'c3']],
    ['minPriority', { symbols: FLT, minPriority: 'HIGH' }, ['a1', 'b2']],
    ['minPriority LOW is everything', { symbols: FLT, minPriority: 'LOW' }, ['a1', 'b2', 'c3', 'a4', 'b5']],
    ['since (inclusive)', { symbols: FLT, since: '2026-01-03T00:00:00Z' }, ['c3', 'a4', 'b5']],
    ['until (exclusive)', { symbols: FLT, until: '2026-01-03T00:00:00.000Z' }, ['a1', 'b2']],
    ['since and until', { symbols: FLT, since: '2026-01-02T00:00:00Z', until: '2026-01-04T00:00:00Z' }, ['b2', 'c3']],
    ['since with an offset', { symbols: FLT, since: '2026-01-04T01:00:00+01:00' }, ['a4', 'b5']],
    ['several at once', { symbols: ['FLTA', 'fltb'], tiers: ['DAILY', 'INTRADAY'], minConfidence: 0.6 }, ['a1', 'b2', 'a4']],
    ['nothing matches', { symbols: ['NOSUCH'] }, []],
  ];

  it.each(filterCases)('filters by %s', async (_name, filter, expected) => {
    const c = await page('patterns', { filter, first: 50 });
    expect(c.nodes.map((n) => n.id)).toEqual(ids(...expected));
  });

  it('serves stored fields as the contract types them', async () => {
    const c = await page('patterns', { filter: { symbols: ['FLTC'] }, first: 1 });
    expect(c.nodes[0]).toEqual({
      id: String(f['c3']!.id),
      symbol: 'FLTC',
      pattern: 'ComboX',
      tier: 'COMBO',
      confidence: 0.75,
      priority: 'MEDIUM',
      detectedAt: '2026-01-03T00:00:00.000Z',
    });
  });

  it('fixes the tier of dailyPatterns / intradayPatterns / comboPatterns', async () => {
    const daily = await page('dailyPatterns', { filter: { symbols: FLT }, first: 50 });
    expect(daily.nodes.map((n) => n.id)).toEqual(ids('a1', 'a4'));
    expect((await page('intradayPatterns', { filter: { symbols: FLT }, first: 50 })).nodes.map((n) => n.id)).toEqual(
      ids('b2', 'b5'),
    );
    expect((await page('comboPatterns', { filter: { symbols: FLT }, first: 50 })).nodes.map((n) => n.id)).toEqual(ids('c3'));
    const none = await page('dailyPatterns', { filter: { tiers: ['INTRADAY'] }, first: 50 });
    expect(none).toEqual({ edges: [], nodes: [], pageInfo: { hasNextPage: false, endCursor: null } });
    const same = await page('dailyPatterns', { filter: { symbols: FLT, tiers: ['INTRADAY', 'DAILY'] }, first: 50 });
    expect(same.nodes.map((n) => n.id)).toEqual(ids('a1', 'a4'));
  });

  it('pages a tier query with after', async () => {
    const first = await page('dailyPatterns', { filter: { symbols: FLT }, first: 1 });
    expect(first.pageInfo).toEqual({ hasNextPage: true, endCursor: String(f['a4']!.id) });
    const second = await page('dailyPatterns', { filter: { symbols: FLT }, first: 1, after: first.pageInfo.endCursor });
    expect(second.nodes.map((n) => n.id)).toEqual([String(f['a1']!.id)]);
    expect(second.pageInfo.hasNextPage).toBe(false);
  });

  it('finds one detection by id, and null for an id not stored', async () => {
    const { body } = await gql<{ a: Node | null; b: Node | null }>(
      system.httpUrl,
      `query($id: ID!) { a: pattern(id: $id) { id symbol } b: pattern(id: "999999999") { id } }`,
      { id: String(f['b2']!.id) },
    );
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({ a: { id: String(f['b2']!.id), symbol: 'FLTB' }, b: null });
  });
});

interface RestBody {
  patterns: {
    id: string;
    symbol: string;
    pattern_type: string;
    confidence: number;
    tier: string;
    priority: string;
    detection_timestamp: string;
    timeframe: string | null;
    metadata: unknown;
  }[];
  metadata: { count: number; tier: string; confidence_min: number; symbols_filter: string[] | 'all'; response_time_ms: number };
}

async function rest(
  path: string,
  init?: RequestInit,
): Promise<{ status: number; type: string | null; body: unknown; headers: Headers }> {
  const res = await fetch(`${system.httpUrl}${path}`, init);
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: text ? (JSON.parse(text) as unknown) : null,
    headers: res.headers,
  };
}

describe('REST compatibility (§3)', () => {
  const w: Record<string, DetectionRow> = {};
  const o: Record<string, DetectionRow> = {};

  beforeAll(async () => {
    const now = Date.now();
    const ago = (ms: number) => new Date(now - ms);
    w['d8'] = await store({ symbol: 'RWIN', pattern: 'Old', confidence: 0.9, tier: 'daily', detectedAt: ago(8 * DAY) });
    w['d6'] = await store({ symbol: 'RWIN', pattern: 'Recent', confidence: 0.9, tier: 'daily', detectedAt: ago(6 * DAY) });
    w['i25'] = await store({ symbol: 'RWIN', pattern: 'Old', confidence: 0.9, tier: 'intraday', detectedAt: ago(25 * HOUR) });
    w['i23'] = await store({ symbol: 'RWIN', pattern: 'Recent', confidence: 0.9, tier: 'intraday', detectedAt: ago(23 * HOUR) });
    w['c4'] = await store({ symbol: 'RWIN', pattern: 'Old', confidence: 0.9, tier: 'combo', detectedAt: ago(4 * DAY) });
    w['c2'] = await store({ symbol: 'RWIN', pattern: 'Recent', confidence: 0.9, tier: 'combo', detectedAt: ago(2 * DAY) });

    o['a70'] = await store({ symbol: 'ORD', pattern: 'A', confidence: 0.7, tier: 'daily', detectedAt: ago(HOUR) });
    o['b90'] = await store({ symbol: 'ORD', pattern: 'B', confidence: 0.9, tier: 'daily', detectedAt: ago(2 * HOUR) });
    o['c70'] = await store({ symbol: 'ORD', pattern: 'C', confidence: 0.7, tier: 'daily', detectedAt: ago(3 * HOUR) });
    o['d80'] = await store({ symbol: 'ORD', pattern: 'D', confidence: 0.8, tier: 'daily', detectedAt: ago(HOUR) });
    o['e50'] = await store({ symbol: 'ORD', pattern: 'E', confidence: 0.5, tier: 'daily', detectedAt: ago(HOUR) });
    o['f60'] = await store({ symbol: 'ORD', pattern: 'F', confidence: 0.6, tier: 'daily', detectedAt: ago(HOUR) });

    for (const [tier, n] of [
      ['combo', 30],
      ['daily', 55],
      ['intraday', 80],
    ] as const) {
      for (let i = 0; i < n; i++) await store({ symbol: 'LIM', pattern: 'Many', confidence: 0.8, tier, detectedAt: ago(HOUR) });
    }
  });

  it.each([
    ['limit=abc', 'limit'],
    ['limit=0', 'limit'],
    ['limit=201', 'limit'],
    ['limit=1.5', 'limit'],
    ['limit=-5', 'limit'],
    ['confidence_min=3', 'confidence_min'],
    ['confidence_min=x', 'confidence_min'],
    ['confidence_min=-0.1', 'confidence_min'],
    ['symbols=AAPL;DROP', 'symbols'],
    ['symbols=AAPL,' + 'X'.repeat(21), 'symbols'],
  ])('answers 400 with a sentence naming the parameter for %s', async (query, param) => {
    for (const tier of ['daily', 'intraday', 'combo']) {
      const r = await rest(`/api/patterns/${tier}?${query}`);
      expect(r.status, `${tier}?${query}`).toBe(400);
      expect(r.type).toMatch(/^application\/json/);
      expect(Object.keys(r.body as object)).toEqual(['error']);
      const { error } = r.body as { error: string };
      expect(error).toContain(param);
      expect(error.split(' ').length).toBeGreaterThan(3);
    }
  });

  it('applies the default limits: daily 50, intraday 75, combo 25', async () => {
    for (const [tier, expected] of [
      ['daily', 50],
      ['intraday', 75],
      ['combo', 25],
    ] as const) {
      const r = await rest(`/api/patterns/${tier}?symbols=lim`);
      expect(r.status).toBe(200);
      const body = r.body as RestBody;
      expect(body.patterns, tier).toHaveLength(expected);
      expect(body.metadata.count).toBe(expected);
    }
    const more = (await rest('/api/patterns/combo?symbols=LIM&limit=30')).body as RestBody;
    expect(more.patterns).toHaveLength(30);
    const capped = (await rest('/api/patterns/intraday?symbols=LIM&limit=200')).body as RestBody;
    expect(capped.patterns).toHaveLength(80);
    const one = (await rest('/api/patterns/daily?symbols=LIM&limit=1')).body as RestBody;
    expect(one.patterns).toHaveLength(1);
  });

  it('keeps to each window: daily 7 days, intraday 24 hours, combo 3 days', async () => {
    for (const [tier, inside] of [
      ['daily', w['d6']!],
      ['intraday', w['i23']!],
      ['combo', w['c2']!],
    ] as const) {
      const body = (await rest(`/api/patterns/${tier}?symbols=RWIN`)).body as RestBody;
      expect(
        body.patterns.map((p) => p.id),
        tier,
      ).toEqual([String(inside.id)]);
    }
  });

  it('orders by confidence descending, then newest first, and leaves out confidence below 0.6 by default', async () => {
    const body = (await rest('/api/patterns/daily?symbols=ord')).body as RestBody;
    expect(body.patterns.map((p) => p.id)).toEqual([o['b90'], o['d80'], o['c70'], o['a70'], o['f60']].map((r) => String(r!.id)));
    expect(body.metadata).toMatchObject({ count: 5, tier: 'daily', confidence_min: 0.6, symbols_filter: ['ORD'] });
    const lower = (await rest('/api/patterns/daily?symbols=ORD&confidence_min=0.5')).body as RestBody;
    expect(lower.patterns.map((p) => p.id)).toContain(String(o['e50']!.id));
    expect(lower.metadata.confidence_min).toBe(0.5);
    const higher = (await rest('/api/patterns/daily?symbols=ORD&confidence_min=0.8')).body as RestBody;
    expect(higher.patterns.map((p) => p.confidence)).toEqual([0.9, 0.8]);
  });

  it('answers in the legacy shape', async () => {
    const body = (await rest('/api/patterns/daily?symbols=ORD&limit=1')).body as RestBody;
    expect(body.patterns[0]).toEqual({
      id: String(o['b90']!.id),
      symbol: 'ORD',
      pattern_type: 'B',
      confidence: 0.9,
      tier: 'daily',
      priority: 'CRITICAL',
      detection_timestamp: o['b90']!.detectedAt.toISOString(),
      timeframe: null,
      metadata: {},
    });
    expect(typeof body.metadata.response_time_ms).toBe('number');
  });

  it('reports symbols_filter as "all" without a filter and as the normalised list with one', async () => {
    const all = (await rest('/api/patterns/combo')).body as RestBody;
    expect(all.metadata.symbols_filter).toBe('all');
    expect(all.patterns.length).toBeGreaterThan(1);
    const blank = (await rest('/api/patterns/combo?symbols=')).body as RestBody;
    expect(blank.metadata.symbols_filter).toBe('all');
    const list = (await rest('/api/patterns/daily?symbols=%20ord%20,rwin,ORD')).body as RestBody;
    expect(list.metadata.symbols_filter).toEqual(['ORD', 'RWIN']);
    expect(new Set(list.patterns.map((p) => p.symbol))).toEqual(new Set(['ORD', 'RWIN']));
  });

  it('answers 404 for an unknown tier and 405 for anything but GET', async () => {
    const unknown = await rest('/api/patterns/weekly');
    expect(unknown.status).toBe(404);
    expect((unknown.body as { error: string }).error).toMatch(/weekly/);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await rest('/api/patterns/daily', { method, body: method === 'DELETE' ? null : '{}' });
      expect(r.status, method).toBe(405);
      expect(r.headers.get('allow')).toMatch(/GET/);
      expect((r.body as { error: string }).error).toMatch(method);
    }
    const head = await fetch(`${system.httpUrl}/api/patterns/daily`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });
});

describe('/healthz', () => {
  it('answers 200 {status:"ok"} while Redis and the database answer', async () => {
    const r = await rest('/healthz');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^application\/json/);
    expect(r.body).toEqual({ status: 'ok' });
  });
});
