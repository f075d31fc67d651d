import { request } from 'node:http';
import { eq } from 'drizzle-orm';
import { buildSchema } from 'graphql';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { operationCost } from '../src/api/limits.js';
import { ConfigError, loadConfig } from '../src/config/env.js';
import { classifyDetection } from '../src/domain/classify.js';
import { createLogger } from '../src/lib/logger.js';
import { createPubSub } from '../src/pubsub/pubsub.js';
import { createRedis } from '../src/redis/connections.js';
import { patternDetections, type DetectionRow } from '../src/schema/db.js';
import type { PatternEvent } from '../src/schema/events.js';
import { createDetectionWriter, type DetectionWriter } from '../src/workers/store/detection-writer.js';
import { createDisposers, createTestEnv, type TestEnv } from './utils/env.js';
import { collect, createWsClient, gql } from './utils/graphql.js';
import { startTestSystem, type TestSystem } from './utils/system.js';

/**
 * Contract §5's limits: each at its value (allowed) and one step past it (refused with an error
 * naming the limit and its variable), that a refused operation ran nothing, and that other
 * clients and subscriptions go on. `system` runs the defaults; `small` the replay and
 * per-socket limits set low through the environment.
 */
const disposers = createDisposers();
let t: TestEnv;
let system: TestSystem;
let small: TestSystem;
let smallEnv: TestEnv;
let writer: DetectionWriter;
let smallWriter: DetectionWriter;

function writerFor(env: TestEnv, target: TestSystem): DetectionWriter {
  const logger = createLogger('silent');
  const pubsub = createPubSub(
    createRedis(env.config.redis, 'publisher', logger),
    createRedis(env.config.redis, 'subscriber', logger),
    env.config.pubsubPrefix,
  );
  disposers.add(() => pubsub.close());
  return createDetectionWriter({ database: target.database!, pubsub });
}

beforeAll(async () => {
  // No periodic re-check of WebSocket credentials (every 2 s by default) in this file: its query
  // would count as a read in the 64 KiB test, which asserts an oversized message causes none.
  t = await createTestEnv(disposers, 'limits', { AUTH_RECHECK_MS: '3600000' });
  system = await startTestSystem(disposers, t.config, { api: true, migrate: true });
  writer = writerFor(t, system);
  smallEnv = await createTestEnv(disposers, 'limitsmall', { REPLAY_MAX_DETECTIONS: '3', WS_MAX_SUBSCRIPTIONS: '3' });
  small = await startTestSystem(disposers, smallEnv.config, { api: true, migrate: true });
  smallWriter = writerFor(smallEnv, small);
});
afterAll(() => disposers.run());

let seq = 0;
async function store(target: TestSystem, w: DetectionWriter, symbol = 'AAPL'): Promise<DetectionRow> {
  const now = new Date().toISOString();
  const event: PatternEvent = {
    kind: 'pattern',
    eventId: `limits-${t.id}-${++seq}`,
    symbol,
    pattern: 'Doji',
    confidence: 0.8,
    tierHint: 'daily',
    sourceHint: null,
    timeframe: null,
    category: null,
    price: null,
    detectedAt: now,
    receivedAt: now,
    expiresAt: null,
    source: 'limits-test',
    metadata: {},
  };
  await w.write({ event, classification: classifyDetection(event) });
  const [row] = await target.database!.db.select().from(patternDetections).where(eq(patternDetections.eventId, event.eventId));
  return row!;
}

interface GqlError {
  message: string;
  extensions?: Record<string, unknown>;
}

/** Runs `query` over HTTP and returns the status, errors and how many database reads it made. */
async function run(query: string, variables?: Record<string, unknown>, target = system) {
  const reads = vi.spyOn(target.database!.db, 'select');
  try {
    const { status, body } = await gql(target.httpUrl, query, variables);
    return { status, body, errors: (body.errors ?? []) as GqlError[], reads: reads.mock.calls.length };
  } finally {
    reads.mockRestore();
  }
}

/** A refusal over HTTP: 400, one LIMIT_EXCEEDED error naming the limit and its variable, no read. */
async function expectRefused(query: string, limit: string, setting: string, variables?: Record<string, unknown>) {
  const r = await run(query, variables);
  expect(r.status, JSON.stringify(r.body)).toBe(400);
  expect(r.body.data).toBeUndefined();
  expect(r.errors).toHaveLength(1);
  expect(r.errors[0]).toMatchObject({ extensions: { code: 'LIMIT_EXCEEDED', limit, setting } });
  expect(r.errors[0]!.message).toContain(setting);
  expect(r.reads).toBe(0);
  return r.errors[0]!;
}

async function expectAllowed(query: string, variables?: Record<string, unknown>) {
  const r = await run(query, variables);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.errors).toEqual([]);
  return r;
}

const pages = (n: number, selection = 'nodes { id }', first = 500) =>
  `{ ${Array.from({ length: n }, (_, i) => `a${i}: patterns(first: ${first}) { ${selection} }`).join(' ')} }`;

describe('settings', () => {
  it('has the contract defaults and fails naming a bad variable', () => {
    expect(t.config.limits).toEqual({
      aliases: 15,
      depth: 10,
      directives: 50,
      tokens: 2000,
      cost: 5000,
      bodyBytes: 1_048_576,
      wsMessageBytes: 65_536,
      subscriptionsPerSocket: 100,
      replay: 10_000,
    });
    expect(() => loadConfig({ GRAPHQL_MAX_COST: 'lots' })).toThrow(ConfigError);
    expect(() => loadConfig({ GRAPHQL_MAX_COST: 'lots' })).toThrow(/GRAPHQL_MAX_COST/);
    expect(() => loadConfig({ WS_MAX_SUBSCRIPTIONS: '0' })).toThrow(/WS_MAX_SUBSCRIPTIONS/);
  });
});

describe('per operation (GraphQL Armor): aliases 15, depth 10, directives 50, tokens 2,000', () => {
  it('aliases: 15 allowed, 16 refused', async () => {
    const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: pattern(id: "1") { id }`).join(' ')} }`;
    const ok = await expectAllowed(aliased(15));
    expect(ok.reads).toBeGreaterThan(0);
    const error = await expectRefused(aliased(16), 'aliases', 'GRAPHQL_MAX_ALIASES');
    expect(error.message).toBe('Too many aliases in the operation: 16 (limit 15, GRAPHQL_MAX_ALIASES)');
  });

  it('depth: 10 allowed, 11 refused', async () => {
    // Each inline fragment is a level, like a field.
    const nested = (levels: number) =>
      `{ ${'... on Query { '.repeat(levels - 1)}patterns(first: 1) { nodes { id } }${' }'.repeat(levels - 1)} }`;
    // patterns / nodes / id are three levels.
    await expectAllowed(nested(8));
    const error = await expectRefused(nested(9), 'depth', 'GRAPHQL_MAX_DEPTH');
    expect(error.message).toMatch(/nested too deeply: 11 \(limit 10, GRAPHQL_MAX_DEPTH\)/);
  });

  it('directives: 50 allowed, 51 refused', async () => {
    const directed = (n: number) =>
      `{ patterns(first: 1) { nodes { id } } ${'... @include(if: true) { __typename } '.repeat(n)}}`;
    await expectAllowed(directed(50));
    const error = await expectRefused(directed(51), 'directives', 'GRAPHQL_MAX_DIRECTIVES');
    expect(error.message).toContain(': 51 (limit 50');
  });

  it('tokens: 2,000 allowed, 2,001 refused (in the parser)', async () => {
    // 22 tokens around the list, one per value in it.
    const tokens = (n: number) => `{ patterns(first: 1, filter: { tiers: [${'DAILY '.repeat(n - 22)}] }) { nodes { id } } }`;
    await expectAllowed(tokens(2000));
    const error = await expectRefused(tokens(2001), 'tokens', 'GRAPHQL_MAX_TOKENS');
    expect(error.message).toBe('The operation has too many tokens (limit 2000, GRAPHQL_MAX_TOKENS)');
  });

  it('answers a refusal with 400 whatever the client accepts (a legacy application/json client too)', async () => {
    const query = `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: patternDefinitions { name }`).join(' ')} }`;
    for (const accept of ['application/json', 'application/graphql-response+json', null]) {
      const res = await fetch(`${system.httpUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}) },
        body: JSON.stringify({ query }),
      });
      expect(res.status, String(accept)).toBe(400);
      const body = (await res.json()) as { errors: { extensions: { code: string } }[]; extensions?: unknown };
      expect(body.errors[0]!.extensions.code).toBe('LIMIT_EXCEEDED');
      // The status travels out of band: nothing of it is left in the body.
      expect(body.extensions).toBeUndefined();
    }
  });

  it('hides "Did you mean" field suggestions', async () => {
    const r = await run('{ patternz { id } }');
    expect(r.status).toBe(400);
    expect(r.errors[0]!.message).not.toMatch(/Did you mean/);
    expect(r.errors[0]!.message).toContain('[Suggestion hidden]');
  });
});

describe('cost 5,000 (each list field costs its first, nested lists multiply)', () => {
  it('10 × patterns(first: 500) { nodes } = 5,000 allowed; 11 = 5,500 refused', async () => {
    await expectAllowed(pages(10));
    const error = await expectRefused(pages(11), 'cost', 'GRAPHQL_MAX_COST');
    expect(error.message).toMatch(/^The operation costs 5500;.*\(limit 5000, GRAPHQL_MAX_COST\)$/);
  });

  it('counts edges and nodes of a connection: 5 × 1,000 allowed, 6 refused', async () => {
    await expectAllowed(pages(5, 'edges { cursor node { id } } nodes { id } pageInfo { hasNextPage }'));
    const error = await expectRefused(pages(6, 'edges { node { id } } nodes { id }'), 'cost', 'GRAPHQL_MAX_COST');
    expect(error.message).toMatch(/costs 6000/);
  });

  it('reads first from variables, for every request of a cached document', async () => {
    const query = `query($n: Int) { ${Array.from({ length: 10 }, (_, i) => `a${i}: patterns(first: $n) { nodes { id } }`).join(' ')} }`;
    await expectAllowed(query, { n: 10 });
    await expectRefused(query, 'cost', 'GRAPHQL_MAX_COST', { n: 501 });
    await expectAllowed(query, { n: 500 });
    // The default (50) counts when first is absent: 10 × 50.
    await expectAllowed(pages(10).replaceAll('(first: 500)', ''));
  });

  it('a field that may hold 64 KiB costs by its size: the issue’s ten rejectedEvents(first: 500) { payload } are refused', async () => {
    const payloads = (n: number, first: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: rejectedEvents(first: ${first}) { id payload }`).join(' ')} }`;
    // 312 × 16 = 4,992 allowed; 313 × 16 = 5,008 refused.
    await expectAllowed(payloads(1, 312));
    const error = await expectRefused(payloads(1, 313), 'cost', 'GRAPHQL_MAX_COST');
    expect(error.message).toMatch(/costs 5008/);
    await expectRefused(payloads(10, 500), 'cost', 'GRAPHQL_MAX_COST');
    // A detection's metadata costs 4: a full page of 500 with it fits (2,000), three do not.
    await expectAllowed(pages(2, 'nodes { id metadata }'));
    await expectRefused(pages(3, 'nodes { id metadata }'), 'cost', 'GRAPHQL_MAX_COST');
  });

  it('multiplies nested lists (a schema with lists of lists)', () => {
    const schema = buildSchema(`
      type Query { users(first: Int = 10): [User!]! tags: [String!]! }
      type User { id: ID! friends(first: Int = 10): [User!]! }
    `);
    const cost = (q: string, variables?: Record<string, unknown>) => operationCost(schema, parse(q), { variables });
    expect(cost('{ users(first: 50) { friends(first: 100) { id } } }')).toBe(5000);
    expect(cost('{ users(first: 50) { friends(first: 101) { id } } }')).toBe(5050);
    expect(cost('{ users { friends { friends { id } } } }')).toBe(1000);
    expect(cost('query($n: Int) { users(first: $n) { id } tags }', { n: 7 })).toBe(8);
    expect(cost('{ users(first: 3) { id } u: users(first: 4) { id } }')).toBe(7);
    // Variables that do not fit: execution refuses them, so there is nothing to cost.
    expect(cost('query($n: Int) { users(first: $n) { id } }', { n: 'x' })).toBeNull();
  });

  it('refuses a subscription over graphql-ws with an error message, and the socket goes on', async () => {
    const client = createWsClient(disposers, system.wsUrl);
    const aliased = collect(
      client,
      `subscription { patternAlert { ${Array.from({ length: 16 }, (_, i) => `a${i}: id`).join(' ')} } }`,
    );
    await expect.poll(() => aliased.errors().length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect((aliased.errors().flat() as GqlError[])[0]).toMatchObject({
      extensions: { code: 'LIMIT_EXCEEDED', limit: 'aliases', setting: 'GRAPHQL_MAX_ALIASES' },
    });
    const over = collect<Record<string, unknown>>(client, pages(11));
    await expect.poll(() => over.errors().length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect((over.errors().flat() as GqlError[])[0]).toMatchObject({ extensions: { code: 'LIMIT_EXCEEDED', limit: 'cost' } });
    const fine = collect<Record<string, unknown>>(client, pages(10));
    const [result] = await fine.waitFor(1);
    expect(result!.errors).toBeUndefined();
  });
});

describe('HTTP request body 1 MiB', () => {
  const body = (size: number) => {
    const base = JSON.stringify({ query: '{ patterns(first: 1) { nodes { id } } }', extensions: { pad: '' } });
    return base.replace('"pad":""', `"pad":"${'x'.repeat(size - base.length)}"`);
  };

  it('answers a body of exactly 1 MiB, and 413 naming the limit one byte past it', async () => {
    expect(body(1_048_576)).toHaveLength(1_048_576);
    const post = (text: string) =>
      fetch(`${system.httpUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
    const ok = await post(body(1_048_576));
    expect(ok.status).toBe(200);
    const reads = vi.spyOn(system.database!.db, 'select');
    const refused = await post(body(1_048_577));
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
    expect(refused.status).toBe(413);
    const answer = (await refused.json()) as { errors: GqlError[] };
    expect(answer.errors[0]).toMatchObject({
      message: 'The request body is too large (limit 1048576, HTTP_MAX_BODY_BYTES)',
      extensions: { code: 'LIMIT_EXCEEDED', limit: 'bodyBytes', setting: 'HTTP_MAX_BODY_BYTES' },
    });
  });

  it('stops reading a chunked body past the limit (no Content-Length)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const planned = 64 * 1024 * 1024;
    const { status, sent } = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = request(`${system.httpUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        answered = true;
        res.resume();
        resolve({ status: res.statusCode!, sent });
        req.destroy();
      });
      req.on('error', (err) => (answered ? undefined : reject(err)));
      req.write('{"query":"{ __typename }","extensions":{"pad":"');
      const pump = () => {
        while (!answered && sent < planned) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!answered) req.end('"}}');
      };
      pump();
    });
    expect(status).toBe(413);
    // The server answered long before the client had sent everything.
    expect(sent).toBeLessThan(planned / 2);
  });
});

describe('WebSocket message 64 KiB', () => {
  it('takes a message of 64 KiB and closes with 1009 past it; other sockets go on', async () => {
    const other = createWsClient(disposers, system.wsUrl);
    const alerts = collect<{ patternAlert: { id: string } }>(
      other,
      'subscription { patternAlert(filter: { symbols: ["MSFT"] }) { id } }',
    );

    const open = async () => {
      const ws = new WebSocket(system.wsUrl, 'graphql-transport-ws');
      disposers.add(() => ws.terminate());
      const messages: string[] = [];
      ws.on('message', (data: Buffer) => messages.push(data.toString()));
      await new Promise((resolve) => ws.once('open', resolve));
      ws.send(JSON.stringify({ type: 'connection_init' }));
      await expect.poll(() => messages.length).toBe(1);
      return { ws, messages };
    };
    const message = (size: number) => {
      const base = JSON.stringify({
        id: '1',
        type: 'subscribe',
        payload: { query: '{ patterns(first: 1) { nodes { id } } }', extensions: { pad: '' } },
      });
      return base.replace('"pad":""', `"pad":"${'x'.repeat(size - base.length)}"`);
    };

    const a = await open();
    a.ws.send(message(65_536));
    await expect.poll(() => a.messages.some((m) => m.includes('"type":"next"')), { timeout: 5_000 }).toBe(true);

    const b = await open();
    const closed = new Promise<number>((resolve) => b.ws.once('close', (code) => resolve(code)));
    const reads = vi.spyOn(system.database!.db, 'select');
    b.ws.send(message(65_537));
    expect(await closed).toBe(1009);
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
    expect(system.logs.some((l) => l.includes('WS_MAX_MESSAGE_BYTES'))).toBe(true);

    // The other socket still gets its events.
    const row = await store(system, writer, 'MSFT');
    const [got] = await alerts.waitFor(1);
    expect(got!.data!.patternAlert.id).toBe(String(row.id));
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('operations open on one WebSocket (WS_MAX_SUBSCRIPTIONS)', () => {
  it('at the default 100: the 101st gets LIMIT_EXCEEDED, the others go on', async () => {
    const client = createWsClient(disposers, system.wsUrl);
    const subs = Array.from({ length: 99 }, () => collect(client, 'subscription { backtestProgress(jobId: "none") { jobId } }'));
    const alerts = collect<{ patternAlert: { id: string } }>(
      client,
      'subscription { patternAlert(filter: { symbols: ["IBM"] }) { id } }',
    );
    const extra = collect(client, 'subscription { backtestProgress { jobId } }');
    await expect.poll(() => extra.errors().length, { timeout: 5_000 }).toBe(1);
    expect((extra.errors().flat() as GqlError[])[0]).toMatchObject({
      message:
        'This WebSocket already has 100 operations open; complete one first, or open another WebSocket (limit 100, WS_MAX_SUBSCRIPTIONS)',
      extensions: { code: 'LIMIT_EXCEEDED', limit: 'subscriptionsPerSocket', setting: 'WS_MAX_SUBSCRIPTIONS' },
    });
    const row = await store(system, writer, 'IBM');
    const [got] = await alerts.waitFor(1);
    expect(got!.data!.patternAlert.id).toBe(String(row.id));
    expect(subs.every((s) => s.errors().length === 0)).toBe(true);
    // Completing one makes room for another: it is served (its replay arrives), not refused.
    subs[0]!.unsubscribe();
    const msft = await store(system, writer, 'MSFT');
    const again = collect<{ patternAlert: { id: string } }>(
      client,
      `subscription { patternAlert(filter: { symbols: ["MSFT"] }, after: "${msft.id - 1}") { id } }`,
    );
    const [served] = await again.waitFor(1);
    expect(served!.data!.patternAlert.id).toBe(String(msft.id));
    expect(again.errors()).toEqual([]);
  });

  it('set to 3: a query counts while it runs; a refused subscription holds nothing', async () => {
    const client = createWsClient(disposers, small.wsUrl);
    const subscribers = async () => {
      const { body } = await gql<{ systemHealth: { pipeline: { subscribers: number } } }>(
        small.httpUrl,
        '{ systemHealth { pipeline { subscribers } } }',
      );
      return body.data!.systemHealth.pipeline.subscribers;
    };
    const three = Array.from({ length: 3 }, () => collect(client, 'subscription { patternAlert { id } }'));
    await expect.poll(subscribers, { timeout: 5_000 }).toBe(3);
    const fourth = collect(client, 'subscription { patternAlert { id } }');
    await expect.poll(() => fourth.errors().length, { timeout: 5_000 }).toBe(1);
    expect(await subscribers()).toBe(3);
    const query = collect(client, '{ __typename }');
    await expect.poll(() => query.errors().length, { timeout: 5_000 }).toBe(1);
    // Another socket of the same process is not affected.
    const other = createWsClient(disposers, small.wsUrl);
    const fine = collect(other, '{ __typename }');
    expect((await fine.waitFor(1))[0]!.errors).toBeUndefined();
    expect(three.every((s) => s.errors().length === 0)).toBe(true);
  });
});

describe('patternAlert(after:) replay (REPLAY_MAX_DETECTIONS, set to 3)', () => {
  it('replays 3, refuses 4 with BAD_USER_INPUT telling to page with patterns, and opens nothing', async () => {
    const rows = [];
    for (let i = 0; i < 4; i++) rows.push(await store(small, smallWriter, i === 0 ? 'TSLA' : 'NVDA'));
    const before = rows[0]!.id - 1;
    const client = createWsClient(disposers, small.wsUrl);
    const query = 'subscription($after: ID, $f: PatternFilter) { patternAlert(after: $after, filter: $f) { id } }';

    const refused = collect(client, query, { after: String(before) });
    const [r] = await refused.waitFor(1);
    expect(r!.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', argument: 'after', limit: 'replay', setting: 'REPLAY_MAX_DETECTIONS' },
    });
    expect(r!.errors![0]!.message).toMatch(/more than 3 detections.*REPLAY_MAX_DETECTIONS.*patterns query first/);

    const exactly = collect<{ patternAlert: { id: string } }>(client, query, { after: String(rows[0]!.id) });
    expect((await exactly.waitFor(3)).map((x) => x.data!.patternAlert.id)).toEqual(rows.slice(1).map((x) => String(x.id)));
    // The filter counts: 3 NVDA detections after `before`.
    const filtered = collect<{ patternAlert: { id: string } }>(client, query, {
      after: String(before),
      f: { symbols: ['NVDA'] },
    });
    expect(await filtered.waitFor(3)).toHaveLength(3);
    expect(refused.results).toHaveLength(1);
  });
});
