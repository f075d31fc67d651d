import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  createAlertClient,
  type Alert,
  type AlertClient,
  type AlertClientOptions,
  type AlertClientState,
} from '../src/client/alert-client.js';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { eventually, gql } from './utils/graphql.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { createTcpProxy } from './utils/tcp-proxy.js';
import { waitForQuiet } from './utils/wait.js';

/**
 * The client helper (src/client/alert-client.ts) against the real system: live alerts, replay
 * with `after`, resuming across a connection the server side drops, giving up on a bad filter,
 * and staying closed after close().
 */
const disposers = createDisposers();
let t: TestEnv;
let system: TestSystem;
let publisher: Redis;

beforeAll(async () => {
  t = await createTestEnv(disposers, 'alertclient');
  system = await startTestSystem(disposers, t.config);
  publisher = new Redis(REDIS_URL);
  disposers.add(() => void publisher.disconnect());
});
afterAll(() => disposers.run());

const detection = (eventId: string, symbol: string, confidence = 0.75) =>
  JSON.stringify({ event_id: eventId, pattern: 'BreakoutBO', symbol, confidence, timestamp: Date.now() / 1000 });

type PatternsPage = {
  patterns: { nodes: { id: string; eventId: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
};

/** Stored detections of `symbol`, oldest first (the query pages newest first). */
async function stored(httpUrl: string, symbol: string): Promise<{ id: string; eventId: string }[]> {
  const rows: { id: string; eventId: string }[] = [];
  let after: string | null = null;
  for (;;) {
    const { body }: { body: { data?: PatternsPage | null; errors?: unknown } } = await gql<PatternsPage>(
      httpUrl,
      `query($s: [String!], $after: String) { patterns(filter: { symbols: $s }, first: 500, after: $after) { nodes { id eventId } pageInfo { hasNextPage endCursor } } }`,
      { s: [symbol], after },
    );
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    rows.push(...body.data!.patterns.nodes);
    if (!body.data!.patterns.pageInfo.hasNextPage) return rows.reverse();
    after = body.data!.patterns.pageInfo.endCursor;
  }
}

async function subscriberCount(httpUrl: string): Promise<number> {
  const { body } = await gql<{ systemHealth: { pipeline: { subscribers: number } } }>(
    httpUrl,
    `{ systemHealth { pipeline { subscribers } } }`,
  );
  return body.data!.systemHealth.pipeline.subscribers;
}

interface Harness {
  client: AlertClient;
  alerts: Alert[];
  states: AlertClientState[];
  /** Each state change with its time. */
  stateLog: { state: AlertClientState; at: number }[];
  errors: unknown[];
  /** When each WebSocket was opened: one per connection attempt. */
  sockets: number[];
}

/** A client whose every WebSocket, state change, alert and error is recorded; closed by the disposers. */
function startClient(options: Omit<AlertClientOptions, 'onAlert' | 'webSocketImpl'>): Harness {
  const h: Omit<Harness, 'client'> = { alerts: [], states: [], stateLog: [], errors: [], sockets: [] };
  class CountingWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      h.sockets.push(Date.now());
    }
  }
  const client = createAlertClient({
    selection: 'id eventId symbol',
    ...options,
    webSocketImpl: CountingWebSocket,
    onAlert: (a) => h.alerts.push(a),
    onStateChange: (s) => {
      h.states.push(s);
      h.stateLog.push({ state: s, at: Date.now() });
    },
    onError: (e) => h.errors.push(e),
  });
  disposers.add(() => client.close());
  return { ...h, client };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Absence shows only as quiet: nothing new (alerts, sockets, states, errors) for `quietMs`. */
const quiet = (
  h: { alerts: unknown[]; sockets: unknown[]; states: unknown[]; errors: unknown[] },
  quietMs: number,
  what: string,
) => waitForQuiet(() => h.alerts.length + h.sockets.length + h.states.length + h.errors.length, { quietMs, what });
const ids = (alerts: Alert[]) => alerts.map((a) => a.id);
const increasing = (list: string[]) => list.every((id, i) => i === 0 || BigInt(id) > BigInt(list[i - 1]!));

describe('createAlertClient', () => {
  it('receives live alerts and lastId() tracks the highest id', async () => {
    const symbol = 'ACLIVE';
    const before = await subscriberCount(system.httpUrl);
    const h = startClient({ url: system.wsUrl, filter: { symbols: [symbol] } });
    expect(h.client.lastId()).toBeNull();
    await eventually(() => h.client.state() === 'live', 5_000, 'state live');
    // Without `after` only what is published once the server holds the subscription arrives.
    await eventually(async () => (await subscriberCount(system.httpUrl)) > before, 5_000, 'the server to hold the subscription');

    for (let i = 0; i < 10; i++) await publisher.publish(t.config.channels.patterns, detection(`${t.id}-live-${i}`, symbol));
    await publisher.publish(t.config.channels.patterns, detection(`${t.id}-live-other`, 'ACOTHER'));
    await eventually(() => h.alerts.length >= 10, 10_000, '10 live alerts');
    // The other symbol's detection, published last, stored: then nothing more may arrive.
    await eventually(async () => (await stored(system.httpUrl, 'ACOTHER')).length === 1, 10_000, 'the other symbol stored');
    await quiet(h, 300, 'more alerts');

    const rows = await stored(system.httpUrl, symbol);
    expect(ids(h.alerts)).toEqual(rows.map((r) => r.id));
    expect(h.alerts.every((a) => a['symbol'] === symbol)).toBe(true);
    expect(h.client.lastId()).toBe(rows.at(-1)!.id);
    expect(h.errors).toEqual([]);
    expect(h.states).toEqual(['live']);
    expect(h.sockets).toHaveLength(1);
  });

  it('with `after`, replays the stored ones oldest first, then continues live', async () => {
    const symbol = 'ACREPLAY';
    for (let i = 0; i < 5; i++) await publisher.publish(t.config.channels.patterns, detection(`${t.id}-old-${i}`, symbol));
    const old = await eventually(
      async () => {
        const rows = await stored(system.httpUrl, symbol);
        return rows.length === 5 ? rows : null;
      },
      10_000,
      '5 stored',
    );

    const h = startClient({ url: system.wsUrl, filter: { symbols: [symbol] }, after: old[1]!.id });
    expect(h.client.lastId()).toBe(old[1]!.id);
    await eventually(() => h.alerts.length >= 3, 10_000, '3 replayed');
    expect(ids(h.alerts)).toEqual(old.slice(2).map((r) => r.id));
    expect(h.client.lastId()).toBe(old[4]!.id);

    for (let i = 0; i < 4; i++) await publisher.publish(t.config.channels.patterns, detection(`${t.id}-new-${i}`, symbol));
    await eventually(() => h.alerts.length >= 7, 10_000, '4 live after the replay');
    await quiet(h, 300, 'more alerts');
    const all = await stored(system.httpUrl, symbol);
    expect(all).toHaveLength(9);
    expect(ids(h.alerts)).toEqual(all.slice(2).map((r) => r.id));
    expect(h.alerts.map((a) => a['eventId'])).toEqual([
      ...[2, 3, 4].map((i) => `${t.id}-old-${i}`),
      ...[0, 1, 2, 3].map((i) => `${t.id}-new-${i}`),
    ]);
    expect(h.client.lastId()).toBe(all.at(-1)!.id);
    expect(h.errors).toEqual([]);
  });

  it('reconnects with backoff when the connection is cut mid-burst, resumes with `after`, and ends with every detection once, in id order', async () => {
    const symbol = 'ACCUT';
    // A second, API-only process role: the client reaches it through a proxy the test cuts.
    const api = await startTestSystem(disposers, t.config, { api: true });
    const proxy = await createTcpProxy(disposers, api.api!.port);
    const before = await subscriberCount(api.httpUrl);
    const h = startClient({
      url: `ws://127.0.0.1:${proxy.port}/graphql`,
      filter: { symbols: [symbol] },
      backoff: { initialMs: 100, maxMs: 2_000 },
    });
    await eventually(async () => (await subscriberCount(api.httpUrl)) > before, 5_000, 'the API to hold the subscription');

    const TOTAL = 1_500;
    const PER_TICK = 30;
    const published: string[] = [];
    const burstStartedAt = Date.now();
    const burst = (async () => {
      for (let i = 0; i < TOTAL; i += PER_TICK) {
        const sends: Promise<number>[] = [];
        for (let j = i; j < Math.min(TOTAL, i + PER_TICK); j++) {
          const eventId = `${t.id}-cut-${j}`;
          published.push(eventId);
          sends.push(publisher.publish(t.config.channels.patterns, detection(eventId, symbol, 0.6 + (j % 40) / 100)));
        }
        await Promise.all(sends);
        // Pacing the load generator: the burst spans seconds, so the cut lands mid-stream.
        await sleep(60);
      }
    })();
    // Cut once the client is visibly mid-stream, restore a second later while the burst goes on.
    await eventually(() => h.alerts.length >= 300, 15_000, '300 alerts before the cut');
    const receivedAtCut = h.alerts.length;
    const socketsAtCut = h.sockets.length;
    const lastIdAtCut = h.client.lastId();
    proxy.cut();
    const cutAt = Date.now();
    await eventually(() => h.client.state() === 'reconnecting', 2_000, 'state reconnecting');
    // Cut until the client has tried (and failed) three times, so its backoff shows.
    await eventually(() => h.sockets.filter((s) => s >= cutAt).length >= 3, 10_000, 'three connection attempts while cut');
    proxy.restore();
    const restoredAt = Date.now();
    await burst;
    const burstEndedAt = Date.now();

    const rows = await eventually(
      async () => {
        const r = await stored(system.httpUrl, symbol);
        return r.length >= TOTAL ? r : null;
      },
      30_000,
      `${TOTAL} stored`,
    );
    await eventually(() => h.alerts.length >= rows.length, 30_000, `all ${rows.length} alerts at the client`);
    await quiet(h, 500, 'late duplicates');

    const got = ids(h.alerts);
    const attemptsWhileCut = h.sockets.filter((s) => s >= cutAt && s < restoredAt);
    const gaps = attemptsWhileCut.slice(1).map((s, i) => s - attemptsWhileCut[i]!);
    const counts = {
      published: published.length,
      stored: rows.length,
      delivered: got.length,
      distinct: new Set(got).size,
      duplicates: got.length - new Set(got).size,
      receivedAtCut,
      lastIdAtCut,
      socketsBeforeCut: socketsAtCut,
      socketsWhileCut: attemptsWhileCut.length,
      gapsWhileCutMs: gaps,
      socketsTotal: h.sockets.length,
      states: h.states,
      liveAgainMsAfterRestore: (h.stateLog.findLast((s) => s.state === 'live')?.at ?? NaN) - restoredAt,
      burstMs: burstEndedAt - burstStartedAt,
    };
    console.log('[alert-client] reconnect', JSON.stringify(counts));

    expect(new Set(rows.map((r) => r.eventId))).toEqual(new Set(published));
    expect(rows).toHaveLength(published.length);
    expect(got).toEqual(rows.map((r) => r.id));
    expect(increasing(got)).toBe(true);
    expect(h.client.lastId()).toBe(rows.at(-1)!.id);
    expect(h.errors).toEqual([]);
    // It went down and came back: at least one failed attempt while cut, with growing delays.
    expect(h.states).toEqual(expect.arrayContaining(['live', 'reconnecting']));
    expect(h.states.at(-1)).toBe('live');
    expect(h.client.state()).toBe('live');
    // Backoff, not a hot loop: a few attempts in the second it was cut, the k-th wait at least
    // half of initialMs * 2^k (the helper's jitter is 0.5..1), so the floor doubles each time.
    expect(attemptsWhileCut.length).toBeGreaterThanOrEqual(2);
    expect(attemptsWhileCut.length).toBeLessThanOrEqual(6);
    gaps.forEach((gap, k) =>
      expect(gap, `wait before attempt ${k + 2} of the outage`).toBeGreaterThanOrEqual(0.9 * 100 * 2 ** k),
    );
  });

  it('stops and reports BAD_USER_INPUT for a bad filter instead of retrying', async () => {
    const h = startClient({ url: system.wsUrl, filter: { minConfidence: 5 }, backoff: { initialMs: 50 } });
    await eventually(() => h.client.state() === 'closed', 5_000, 'state closed');
    // A retry would come after initialMs (50 ms) with jitter: quiet well past that.
    await quiet(h, 500, 'a retry');
    expect(h.errors).toHaveLength(1);
    const errs = [h.errors[0]].flat() as { message?: string; extensions?: { code?: string } }[];
    expect(errs[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(errs[0]!.message).toMatch(/minConfidence/);
    expect(h.sockets).toHaveLength(1);
    expect(h.states.at(-1)).toBe('closed');
    expect(h.states).not.toContain('reconnecting');
    expect(h.alerts).toEqual([]);
  });

  it('without after, starts from the newest stored id, so a drop before the first alert loses nothing', async () => {
    const symbol = 'ACFROMNOW';
    await publisher.publish(t.config.channels.patterns, detection(`${t.id}-before-start`, symbol));
    await eventually(async () => (await stored(system.httpUrl, symbol)).length === 1, 5_000, 'the earlier detection stored');
    const api = await startTestSystem(disposers, t.config, { api: true });
    const proxy = await createTcpProxy(disposers, api.api!.port);
    const h = startClient({
      url: `ws://127.0.0.1:${proxy.port}/graphql`,
      filter: { symbols: [symbol] },
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await eventually(() => h.client.lastId() !== null, 5_000, 'the client to read the newest id');
    proxy.cut();
    for (let i = 0; i < 5; i++) await publisher.publish(t.config.channels.patterns, detection(`${t.id}-while-cut-${i}`, symbol));
    await eventually(async () => (await stored(system.httpUrl, symbol)).length === 6, 5_000, 'the detections stored');
    proxy.restore();
    await eventually(() => h.alerts.length >= 5, 10_000, 'the detections published while cut');
    await quiet(h, 200, 'more alerts');
    // What was stored before it started is not replayed; what came while it was cut off is.
    expect(h.alerts.map((a) => a.eventId)).toEqual(Array.from({ length: 5 }, (_, i) => `${t.id}-while-cut-${i}`));
  });

  it('stops and reports the errors for an invalid selection instead of retrying', async () => {
    const h = startClient({ url: system.wsUrl, selection: 'id noSuchField', backoff: { initialMs: 50 } });
    await eventually(() => h.client.state() === 'closed', 5_000, 'state closed');
    await quiet(h, 500, 'a retry');
    expect(h.errors).toHaveLength(1);
    expect(JSON.stringify(h.errors[0])).toMatch(/noSuchField/);
    expect(h.sockets).toHaveLength(1);
    expect(h.states).not.toContain('reconnecting');
  });

  it('close() stops it: no reconnect afterwards, whether live or waiting to reconnect', async () => {
    const symbol = 'ACCLOSE';
    const api = await startTestSystem(disposers, t.config, { api: true });
    const proxy = await createTcpProxy(disposers, api.api!.port);

    // Closed while live.
    const live = startClient({ url: `ws://127.0.0.1:${proxy.port}/graphql`, filter: { symbols: [symbol] } });
    await eventually(() => live.client.state() === 'live', 5_000, 'state live');
    await live.client.close();
    expect(live.client.state()).toBe('closed');
    proxy.cut();
    proxy.restore();
    await publisher.publish(t.config.channels.patterns, detection(`${t.id}-after-close`, symbol));
    // Stored (so published to live subscribers), then quiet: a closed client neither gets it nor reconnects.
    await eventually(async () => (await stored(system.httpUrl, symbol)).length === 1, 10_000, 'the detection stored');
    await quiet(live, 500, 'a reconnect or an alert after close()');
    expect(live.sockets).toHaveLength(1);
    expect(live.states).toEqual(['live', 'closed']);
    expect(live.alerts).toEqual([]);

    // Closed while waiting to reconnect (the proxy refuses connections).
    const waiting = startClient({
      url: `ws://127.0.0.1:${proxy.port}/graphql`,
      filter: { symbols: [symbol] },
      backoff: { initialMs: 200 },
    });
    await eventually(() => waiting.client.state() === 'live', 5_000, 'state live');
    proxy.cut();
    await eventually(() => waiting.client.state() === 'reconnecting', 2_000, 'state reconnecting');
    await waiting.client.close();
    const socketsAtClose = waiting.sockets.length;
    proxy.restore();
    // A pending reconnect would fire within the backoff (initialMs 200, up to twice that).
    await quiet(waiting, 1_000, 'a reconnect after close()');
    expect(waiting.client.state()).toBe('closed');
    expect(waiting.sockets).toHaveLength(socketsAtClose);
    expect(waiting.states.at(-1)).toBe('closed');
    expect(waiting.errors).toEqual([]);
  });
});
