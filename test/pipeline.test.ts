import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { readFixture, type BacktestFixtures, type PatternCase, type RejectCase } from './utils/fixtures.js';
import { collect, createWsClient, eventually, gql } from './utils/graphql.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { subscriberCount, subscribersAtLeast } from './utils/burst.js';
import { waitForQuiet } from './utils/wait.js';

/**
 * The whole path through the running system: Redis pub/sub → ingest → BullMQ → worker →
 * PostgreSQL → graphql-redis-subscriptions → graphql-ws client, then GraphQL and REST reads.
 */
const disposers = createDisposers();
let t: TestEnv;
let system: TestSystem;
let publisher: Redis;

const DETECTION_FIELDS =
  'id eventId symbol pattern confidence tier priority timeframe category price detectedAt expiresAt source metadata';

beforeAll(async () => {
  t = await createTestEnv(disposers, 'pipeline');
  system = await startTestSystem(disposers, t.config);
  publisher = new Redis(REDIS_URL);
  disposers.add(() => void publisher.disconnect());
});
afterAll(() => disposers.run());

const publish = (channel: string, message: unknown) =>
  publisher.publish(channel, typeof message === 'string' ? message : JSON.stringify(message));

/** The object the contract reads a detection's fields from: the innermost one with a symbol. */
function innermost(message: Record<string, unknown>): Record<string, unknown> {
  const data = message['data'] as Record<string, unknown> | undefined;
  const inner = data?.['data'] as Record<string, unknown> | undefined;
  return [inner, data, message].find((o) => o && 'symbol' in o) ?? message;
}

interface Detection {
  id: string;
  eventId: string;
  symbol: string;
  pattern: string;
  confidence: number;
  tier: string;
  priority: string;
  detectedAt: string;
  price: number | null;
  metadata: Record<string, unknown> | null;
}

describe('pattern detections end to end', () => {
  it('delivers the seed detections live with tier and priority, then serves them by query and REST', async () => {
    const base = await subscriberCount(system.httpUrl);
    const client = createWsClient(disposers, system.wsUrl);
    const all = collect<{ patternAlert: Detection }>(client, `subscription { patternAlert { ${DETECTION_FIELDS} } }`);
    const dailyOnly = collect<{ patternAlert: Detection }>(
      client,
      `subscription { patternAlert(filter: { tiers: [DAILY], symbols: ["aapl"] }) { id symbol tier } }`,
    );
    await eventually(() => system.api && system.ingest && true);
    await subscribersAtLeast(system.httpUrl, base + 2);

    const now = Date.now() / 1000;
    const seeds = [
      {
        event_id: `${t.id}-aapl`,
        pattern: 'BreakoutBO',
        symbol: 'AAPL',
        confidence: 0.95,
        tier: 'daily',
        timeframe: '1d',
        timestamp: now,
      },
      {
        event_id: `${t.id}-googl`,
        pattern: 'DivergenceDO',
        symbol: 'GOOGL',
        confidence: 0.87,
        tier: 'intraday',
        timeframe: '5m',
        timestamp: now,
      },
      {
        event_id: `${t.id}-tsla`,
        pattern: 'ComboPattern',
        symbol: 'TSLA',
        confidence: 0.92,
        tier: 'combo',
        category: 'combo',
        timestamp: now,
      },
    ];
    for (const s of seeds) await publish(t.config.channels.patterns, s);

    const got = (await all.waitFor(3)).map((r) => r.data!.patternAlert);
    expect(all.errors()).toEqual([]);
    const bySymbol = Object.fromEntries(got.map((d) => [d.symbol, d]));
    expect(bySymbol['AAPL']).toMatchObject({
      tier: 'DAILY',
      priority: 'CRITICAL',
      pattern: 'BreakoutBO',
      eventId: `${t.id}-aapl`,
    });
    expect(bySymbol['GOOGL']).toMatchObject({ tier: 'INTRADAY', priority: 'HIGH' });
    expect(bySymbol['TSLA']).toMatchObject({ tier: 'COMBO', priority: 'CRITICAL', category: 'combo' });

    const filtered = await dailyOnly.waitFor(1);
    await waitForQuiet(() => dailyOnly.results.length, { quietMs: 300, what: 'more daily alerts' });
    expect(dailyOnly.results).toHaveLength(1);
    expect(filtered[0]!.data!.patternAlert).toMatchObject({ symbol: 'AAPL', tier: 'DAILY' });

    // What a client saw, it can query: each tier's query returns its detection.
    for (const [query, symbol] of [
      ['dailyPatterns', 'AAPL'],
      ['intradayPatterns', 'GOOGL'],
      ['comboPatterns', 'TSLA'],
    ] as const) {
      const { body } = await gql<Record<string, { nodes: Detection[] }>>(
        system.httpUrl,
        `{ ${query}(first: 10) { nodes { id symbol tier } } }`,
      );
      expect(body.errors).toBeUndefined();
      const nodes = body.data![query]!.nodes;
      expect(nodes.map((n) => n.symbol)).toEqual([symbol]);
      expect(nodes[0]!.id).toBe(bySymbol[symbol]!.id);
    }
    const one = await gql<{ pattern: Detection }>(system.httpUrl, `query($id: ID!) { pattern(id: $id) { symbol priority } }`, {
      id: bySymbol['GOOGL']!.id,
    });
    expect(one.body.data!.pattern).toEqual({ symbol: 'GOOGL', priority: 'HIGH' });

    const rest = await fetch(`${system.httpUrl}/api/patterns/daily?symbols=aapl,msft`);
    expect(rest.status).toBe(200);
    const restBody = (await rest.json()) as { patterns: Record<string, unknown>[]; metadata: Record<string, unknown> };
    expect(restBody.patterns).toEqual([
      expect.objectContaining({
        id: bySymbol['AAPL']!.id,
        symbol: 'AAPL',
        pattern_type: 'BreakoutBO',
        tier: 'daily',
        priority: 'CRITICAL',
        confidence: 0.95,
        timeframe: '1d',
      }),
    ]);
    expect(restBody.metadata).toMatchObject({ count: 1, tier: 'daily', confidence_min: 0.6, symbols_filter: ['AAPL', 'MSFT'] });
    const combo = (await (await fetch(`${system.httpUrl}/api/patterns/combo`)).json()) as {
      patterns: { symbol: string }[];
      metadata: { symbols_filter: unknown };
    };
    expect(combo.patterns.map((p) => p.symbol)).toEqual(['TSLA']);
    expect(combo.metadata.symbols_filter).toBe('all');

    const defs = await gql<{ patternDefinitions: { name: string; detections: number; timeframes: string[] }[] }>(
      system.httpUrl,
      `{ patternDefinitions { name detections timeframes firstSeenAt lastSeenAt } }`,
    );
    expect(defs.body.data!.patternDefinitions).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'BreakoutBO', detections: 1, timeframes: ['1d'] })]),
    );
  });

  it('normalises every fixture on its way through and stores it as expected', async () => {
    const cases = readFixture<PatternCase[]>('patterns.json');
    const base = await subscriberCount(system.httpUrl);
    const client = createWsClient(disposers, system.wsUrl);
    const sub = collect<{ patternAlert: Detection }>(client, `subscription { patternAlert { ${DETECTION_FIELDS} receivedAt } }`);
    await subscribersAtLeast(system.httpUrl, base + 1);
    // This file's database and queues are fresh, so fixtures go out as they are; only a
    // case without its own event_id gets one, placed where the contract reads it (the
    // innermost object with a symbol), to find it again below.
    const idOf = (c: PatternCase) => (innermost(c.message)['event_id'] as string | undefined) ?? `${t.id}-fx-${c.name}`;
    for (const c of cases) {
      const message = structuredClone(c.message);
      innermost(message)['event_id'] ??= idOf(c);
      await publish(t.config.channels.patterns, message);
    }
    const results = await sub.waitFor(cases.length);
    const byEventId = new Map(results.map((r) => [r.data!.patternAlert.eventId, r.data!.patternAlert]));
    for (const c of cases) {
      const got = byEventId.get(idOf(c));
      expect(got, c.name).toBeDefined();
      const { eventId: _expectedId, ...expected } = c.expect;
      expect(got, c.name).toMatchObject(expected);
    }
  });

  it('stores the same message published twice once and delivers it once', async () => {
    const base = await subscriberCount(system.httpUrl);
    const client = createWsClient(disposers, system.wsUrl);
    const sub = collect<{ patternAlert: Detection }>(
      client,
      `subscription { patternAlert(filter: { symbols: ["DUPE"] }) { id eventId } }`,
    );
    await subscribersAtLeast(system.httpUrl, base + 1);
    const withId = JSON.stringify({ event_id: `${t.id}-dupe`, pattern: 'Doji', symbol: 'DUPE', confidence: 0.7 });
    const withoutId = JSON.stringify({ pattern: 'Hammer', symbol: 'DUPE', confidence: 0.75, timestamp: 1764167400, nonce: t.id });
    for (const raw of [withId, withoutId, withId, withoutId]) await publish(t.config.channels.patterns, raw);
    // A sentinel published last: once it arrives, the duplicates had their chance.
    await publish(t.config.channels.patterns, { event_id: `${t.id}-dupe-end`, pattern: 'End', symbol: 'DUPE', confidence: 0.5 });
    await eventually(() => sub.data().some((d) => d.patternAlert.eventId === `${t.id}-dupe-end`), 10_000, 'the sentinel');
    // Every job done (duplicates included), then quiet: a late duplicate would be here by now.
    await eventually(
      async () =>
        Object.values(await system.queues.detections.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).every(
          (n) => n === 0,
        ),
      10_000,
      'the queue to drain',
    );
    await waitForQuiet(() => sub.results.length, { quietMs: 300, what: 'late duplicates' });
    const ids = sub.data().map((d) => d.patternAlert.eventId);
    expect(ids.sort()).toEqual([`${t.id}-dupe`, `${t.id}-dupe-end`, expect.stringMatching(/^[0-9a-f]{64}$/)].sort());
    const { body } = await gql<{ patterns: { nodes: { eventId: string }[] } }>(
      system.httpUrl,
      `{ patterns(filter: { symbols: ["dupe"] }, first: 50) { nodes { eventId } } }`,
    );
    expect(body.data!.patterns.nodes).toHaveLength(3);
  });
});

describe('rejected messages', () => {
  it('stores each reject with its reason, counts it, and keeps the next valid message flowing', async () => {
    const cases = readFixture<RejectCase[]>('rejects.json');
    const before = await gql<{ systemHealth: { pipeline: { rejectedTotal: number } } }>(
      system.httpUrl,
      `{ systemHealth { pipeline { rejectedTotal } } }`,
    );
    const rejectedBefore = before.body.data!.systemHealth.pipeline.rejectedTotal;

    const base = await subscriberCount(system.httpUrl);
    const client = createWsClient(disposers, system.wsUrl);
    const sub = collect<{ patternAlert: Detection }>(
      client,
      `subscription { patternAlert(filter: { symbols: ["NEXT"] }) { symbol } }`,
    );
    await subscribersAtLeast(system.httpUrl, base + 1);
    const payloads = cases.map((c) => c.raw ?? JSON.stringify(c.message));
    for (const p of payloads) await publish(t.config.channels.patterns, p);
    const oversized = JSON.stringify({ pattern: 'Doji', symbol: 'AAPL', confidence: 0.7, padding: 'x'.repeat(70 * 1024) });
    await publish(t.config.channels.patterns, oversized);
    await publish(t.config.channels.patterns, { event_id: `${t.id}-next`, pattern: 'Doji', symbol: 'NEXT', confidence: 0.7 });

    await sub.waitFor(1);
    const expected = cases.length + 1;
    const rejected = await eventually(
      async () => {
        const { body } = await gql<{ rejectedEvents: { channel: string; reason: string; payload: string }[] }>(
          system.httpUrl,
          `{ rejectedEvents(first: 100) { id channel reason payload receivedAt } }`,
        );
        const rows = body.data!.rejectedEvents.filter((r) => r.channel === t.config.channels.patterns);
        return rows.length >= expected ? rows : null;
      },
      10_000,
      'rejects to be stored',
    );
    for (const [i, c] of cases.entries()) {
      const row = rejected.find((r) => r.payload === payloads[i]);
      expect(row, c.name).toBeDefined();
      expect(row!.channel).toBe(t.config.channels.patterns);
      expect(row!.reason, c.name).toContain(c.reject);
    }
    const big = rejected.find((r) => r.payload.length === 64 * 1024);
    expect(big?.reason).toMatch(/64 KiB|65536/);

    const after = await gql<{ systemHealth: { pipeline: { rejectedTotal: number } } }>(
      system.httpUrl,
      `{ systemHealth { pipeline { rejectedTotal status } } }`,
    );
    expect(after.body.data!.systemHealth.pipeline.rejectedTotal).toBe(rejectedBefore + expected);
  });

  it('rejects bad backtest messages on their own channel', async () => {
    const fx = readFixture<BacktestFixtures>('backtests.json');
    for (const c of fx.rejects) {
      const channel = c.channel?.endsWith('progress') ? t.config.channels.backtestProgress : t.config.channels.backtestResults;
      await publish(channel, c.message);
    }
    const rows = await eventually(async () => {
      const { body } = await gql<{ rejectedEvents: { channel: string; reason: string; payload: string }[] }>(
        system.httpUrl,
        `{ rejectedEvents(first: 100) { channel reason payload } }`,
      );
      const mine = body.data!.rejectedEvents.filter((r) => r.channel === t.config.channels.backtestProgress);
      return mine.length >= fx.rejects.length ? mine : null;
    });
    for (const c of fx.rejects)
      expect(
        rows.some((r) => r.reason.includes(c.reject)),
        c.name,
      ).toBe(true);
  });
});

describe('backtests and health', () => {
  it('delivers progress in order to a jobId subscriber, and backtestJob returns the last progress and the result', async () => {
    const fx = readFixture<BacktestFixtures>('backtests.json');
    const jobId = `${t.id}-job`;
    const base = await subscriberCount(system.httpUrl);
    const client = createWsClient(disposers, system.wsUrl);
    const progress = collect<{ backtestProgress: { jobId: string; progress: number; status: string } }>(
      client,
      `subscription($jobId: ID) { backtestProgress(jobId: $jobId) { jobId progress status currentSymbol processedSymbols at } }`,
      { jobId },
    );
    const results = collect<{ backtestResult: { jobId: string; status: string; results: Record<string, unknown> } }>(
      client,
      `subscription($jobId: ID) { backtestResult(jobId: $jobId) { jobId status results processingTimeSeconds at } }`,
      { jobId },
    );
    const other = collect(client, `subscription { backtestProgress(jobId: "someone-else") { jobId } }`);
    await subscribersAtLeast(system.httpUrl, base + 3);
    for (const p of fx.progress) await publish(t.config.channels.backtestProgress, { ...p, job_id: jobId });
    await publish(t.config.channels.backtestResults, { ...fx.results[0], job_id: jobId });

    const got = await progress.waitFor(4);
    expect(got.map((r) => r.data!.backtestProgress.progress)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(got[3]!.data!.backtestProgress.status).toBe('completed');
    const [result] = await results.waitFor(1);
    expect(result!.data!.backtestResult).toMatchObject({
      jobId,
      status: 'completed',
      results: { win_rate: 0.65, total_trades: 150 },
    });
    expect(other.results).toHaveLength(0);

    const { body } = await gql<{
      backtestJob: { progress: { progress: number; status: string }; result: { status: string; processingTimeSeconds: number } };
    }>(
      system.httpUrl,
      `query($jobId: ID!) { backtestJob(jobId: $jobId) { jobId progress { progress status } result { status processingTimeSeconds } } }`,
      { jobId },
    );
    expect(body.data!.backtestJob).toMatchObject({
      progress: { progress: 1, status: 'completed' },
      result: { status: 'completed', processingTimeSeconds: 45.2 },
    });
    const missing = await gql(system.httpUrl, `{ backtestJob(jobId: "no-such-job") { jobId } }`);
    expect(missing.body.data).toEqual({ backtestJob: null });
  });

  it('publishes health reports to systemHealth subscribers and answers the systemHealth query', async () => {
    const [report] = readFixture<Record<string, unknown>[]>('health.json');
    const source = `${t.id}-engine`;
    const client = createWsClient(disposers, system.wsUrl);
    const sub = collect<{ systemHealth: { publisher: { status: string; source: string } | null; pipeline: { status: string } } }>(
      client,
      `subscription { systemHealth { publisher { status source metrics at } pipeline { status queueWaiting queueActive queueFailed rejectedTotal lastEventAt subscribers } } }`,
    );
    await sub.waitFor(1); // the current state, at once
    await publish(t.config.channels.health, { ...report, source });
    await eventually(() => sub.data().some((d) => d.systemHealth.publisher?.source === source), 5_000, 'health report');
    const last = sub.data().at(-1)!.systemHealth;
    expect(last.publisher).toMatchObject({ status: 'healthy', source });
    expect(last.pipeline.status).toBe('ok');

    const { body } = await gql<{ systemHealth: { publisher: { source: string }; pipeline: { subscribers: number } } }>(
      system.httpUrl,
      `{ systemHealth { publisher { source status } pipeline { subscribers status } } }`,
    );
    expect(body.data!.systemHealth.publisher.source).toBe(source);
    expect(body.data!.systemHealth.pipeline.subscribers).toBeGreaterThanOrEqual(1);
  });
});
