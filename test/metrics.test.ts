import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestUser, gqlAs, type TestUser } from './utils/auth.js';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { collect, createWsClient } from './utils/graphql.js';
import { exportedNames, parseMetrics, scrape, series, sumOf } from './utils/metrics.js';
import { childEnv, PROJECT_ROOT, type PatternwireProcess } from './utils/processes.js';
import { freePort } from './utils/resources.js';
import { startRole } from './utils/burst.js';
import { waitFor } from './utils/wait.js';

/**
 * Contract §8's metrics, from a running system of three processes (`api`, `worker`, `ingest`,
 * the last two on METRICS_PORT), with authentication on: who may read `/metrics`, that every
 * listed metric is there, that each moves when real traffic flows through the real ingest, and
 * that the Grafana dashboard in deploy/ asks only for metrics the system exports.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

let t: TestEnv;
let admin: TestUser;
let reader: TestUser;
let api: { proc: PatternwireProcess; url: string };
let worker: { proc: PatternwireProcess; url: string };
let ingest: { proc: PatternwireProcess; url: string };
let publisher: Redis;

/** The API's queue bound, small so one paused client is cut off after a few hundred events. */
const QUEUE_LIMIT = 20;

beforeAll(async () => {
  t = await createTestEnv(disposers, 'metrics', { AUTH_MODE: 'required', SUBSCRIBER_QUEUE_LIMIT: String(QUEUE_LIMIT) });
  // createTestUser applies the migrations the worker needs.
  admin = await createTestUser(t.env['DATABASE_URL']!, 'ops', 'ADMIN');
  reader = await createTestUser(t.env['DATABASE_URL']!, 'watcher', 'READER');
  const [apiPort, workerPort, ingestPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const [apiProc, workerProc, ingestProc] = await Promise.all([
    startRole(disposers, 'api', childEnv(t.env, { PORT: String(apiPort) }), 90_000),
    startRole(disposers, 'worker', childEnv(t.env, { METRICS_PORT: String(workerPort) }), 90_000),
    startRole(disposers, 'ingest', childEnv(t.env, { METRICS_PORT: String(ingestPort) }), 90_000),
  ]);
  api = { proc: apiProc, url: `http://127.0.0.1:${apiPort}` };
  worker = { proc: workerProc, url: `http://127.0.0.1:${workerPort}/metrics` };
  ingest = { proc: ingestProc, url: `http://127.0.0.1:${ingestPort}/metrics` };
  publisher = new Redis(REDIS_URL);
  disposers.add(() => void publisher.disconnect());
}, 180_000);

const apiMetrics = () => scrape(`${api.url}/metrics`, admin.token);
const scrapeAll = async () => {
  const [a, w, i] = await Promise.all([apiMetrics(), scrape(worker.url), scrape(ingest.url)]);
  return { api: a, worker: w, ingest: i };
};

function detection(eventId: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ event_id: eventId, pattern: 'BreakoutBO', symbol: 'AAPL', confidence: 0.93, ...extra });
}

describe('/metrics on the API', () => {
  it('answers 401 without a credential, 403 to a READER, and the Prometheus text format to an ADMIN', async () => {
    const none = await fetch(`${api.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(await none.json()).toMatchObject({ code: 'UNAUTHENTICATED' });

    const asReader = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${reader.token}` } });
    expect(asReader.status).toBe(403);
    expect(await asReader.json()).toEqual({ error: '/metrics is for ADMINs; you are a READER', code: 'FORBIDDEN' });

    const asAdmin = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${admin.token}` } });
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(parseMetrics(await asAdmin.text()).types.get('patternwire_delivery_latency_seconds')).toBe('histogram');

    const post = await fetch(`${api.url}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${admin.token}` } });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('the worker and ingest serve theirs on METRICS_PORT, and nothing else there', async () => {
    for (const url of [worker.url, ingest.url]) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(parseMetrics(await res.text()).types.get('patternwire_inbound_messages_total')).toBe('counter');
      expect((await fetch(url.replace('/metrics', '/graphql'))).status).toBe(404);
    }
  });
});

describe('every metric of contract §8', () => {
  const LISTED = [
    'patternwire_inbound_messages_total',
    'patternwire_detections_stored_total',
    'patternwire_queue_jobs',
    'patternwire_job_duration_seconds',
    'patternwire_delivery_latency_seconds',
    'patternwire_websocket_connections',
    'patternwire_subscriptions',
    'patternwire_slow_consumer_closes_total',
    'patternwire_notifications_total',
    'graphql_envelop_request',
    'graphql_envelop_request_duration',
    'graphql_yoga_http_duration',
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_p99_seconds',
  ];

  it('is exported, and moves when detections flow through the real ingest to a subscriber', { timeout: 120_000 }, async () => {
    // A query first, so yoga's operation metrics have a series.
    expect((await gqlAs(api.url, admin.token, '{ me { name } }')).status).toBe(200);
    const before = await scrapeAll();
    const exported = new Set([...exportedNames(before.api), ...exportedNames(before.worker), ...exportedNames(before.ingest)]);
    for (const name of LISTED) expect(exported.has(name), `${name} is exported`).toBe(true);
    // Every process reads the queues from Redis; the notifications counter starts at zero for each status.
    for (const s of [before.api, before.worker, before.ingest]) {
      expect(s.samples.has(series('patternwire_queue_jobs', { queue: 'detections', state: 'waiting' }))).toBe(true);
      expect(s.samples.get(series('patternwire_notifications_total', { channel: 'WEBHOOK', status: 'DELIVERED' }))).toBe(0);
    }

    const ws = createWsClient(disposers, api.url.replace('http', 'ws') + '/graphql', {
      connectionParams: { authorization: `Bearer ${admin.token}` },
    });
    const alerts = collect<{ patternAlert: { eventId: string } }>(ws, 'subscription { patternAlert { eventId } }');
    await waitFor(async () => sumOf(await apiMetrics(), 'patternwire_subscriptions', { field: 'patternAlert' }) === 1, {
      what: 'patternwire_subscriptions{field="patternAlert"} = 1',
    });
    expect(sumOf(await apiMetrics(), 'patternwire_websocket_connections')).toBeGreaterThanOrEqual(1);

    const patterns = t.config.channels.patterns;
    const N = 5;
    for (let i = 0; i < N; i++) await publisher.publish(patterns, detection(`${t.id}-m${i}`));
    await alerts.waitFor(N, 30_000);
    // The same message again (a publisher's retry), and one that breaks the contract.
    await publisher.publish(patterns, detection(`${t.id}-m0`));
    await publisher.publish(patterns, '{"event_id": 7, "symbol": "AAPL"}');

    const inbound = (outcome: string) => ({ channel: patterns, outcome });
    const after = await waitFor(
      async () => {
        const s = await scrapeAll();
        const ok =
          sumOf(s.ingest, 'patternwire_inbound_messages_total', inbound('accepted')) === N + 1 &&
          sumOf(s.ingest, 'patternwire_inbound_messages_total', inbound('rejected')) === 1 &&
          sumOf(s.worker, 'patternwire_inbound_messages_total', inbound('duplicate')) === 1 &&
          sumOf(s.worker, 'patternwire_job_duration_seconds_count', { queue: 'rejects' }) >= 1 &&
          sumOf(s.api, 'patternwire_delivery_latency_seconds_count') === N;
        return ok ? s : null;
      },
      { timeoutMs: 30_000, what: 'the counters to show 6 accepted, 1 rejected, 1 duplicate and 5 deliveries' },
    );
    expect(alerts.data()).toHaveLength(N); // the duplicate was not delivered

    expect(sumOf(after.worker, 'patternwire_detections_stored_total')).toBe(N);
    // The worker's jobs: one or more `detections` jobs took time.
    const jobs = sumOf(after.worker, 'patternwire_job_duration_seconds_count', { queue: 'detections' });
    expect(jobs).toBeGreaterThanOrEqual(2);
    expect(sumOf(after.worker, 'patternwire_job_duration_seconds_sum', { queue: 'detections' })).toBeGreaterThan(0);
    expect(sumOf(after.worker, 'patternwire_job_duration_seconds_bucket', { queue: 'detections', le: '+Inf' })).toBe(jobs);
    // Each delivery took some time from the row's stored_at, and less than the test's patience.
    const latencySum = sumOf(after.api, 'patternwire_delivery_latency_seconds_sum');
    expect(latencySum).toBeGreaterThan(0);
    expect(latencySum / N).toBeLessThan(30);
    expect(sumOf(after.api, 'patternwire_delivery_latency_seconds_bucket', { le: '+Inf' })).toBe(N);
    // The queue depth read from Redis: the jobs are completed now, on every process alike.
    for (const s of [after.api, after.worker, after.ingest]) {
      expect(sumOf(s, 'patternwire_queue_jobs', { queue: 'detections', state: 'completed' })).toBeGreaterThanOrEqual(jobs);
    }
    // yoga's operation metrics counted the query, by type only.
    expect(sumOf(after.api, 'graphql_envelop_request', { operationType: 'query' })).toBeGreaterThanOrEqual(1);
    expect(after.api.text).not.toMatch(/operationName=|url=/);
    // Process metrics of each process moved on too.
    for (const k of ['api', 'worker', 'ingest'] as const) {
      expect(sumOf(after[k], 'process_cpu_seconds_total')).toBeGreaterThan(sumOf(before[k], 'process_cpu_seconds_total'));
    }

    alerts.unsubscribe();
    await waitFor(async () => sumOf(await apiMetrics(), 'patternwire_subscriptions', { field: 'patternAlert' }) === 0, {
      what: 'the subscription gauge back to 0 after complete',
    });
    await ws.dispose();
    await waitFor(async () => sumOf(await apiMetrics(), 'patternwire_websocket_connections') === 0, {
      what: 'the WebSocket gauge back to 0 after close',
    });
  });

  it('counts a WebSocket closed for not reading', { timeout: 90_000 }, async () => {
    const sockets: WebSocket[] = [];
    class Tracked extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        sockets.push(this);
      }
    }
    const closes: number[] = [];
    const ws = createWsClient(disposers, api.url.replace('http', 'ws') + '/graphql', {
      webSocketImpl: Tracked,
      connectionParams: { authorization: `Bearer ${admin.token}` },
      onNonLazyError: () => undefined, // the 1013 close is expected
      on: { closed: (e) => closes.push((e as { code: number }).code) },
    });
    collect(ws, 'subscription { patternAlert { eventId metadata } }');
    await waitFor(async () => sumOf(await apiMetrics(), 'patternwire_subscriptions', { field: 'patternAlert' }) === 1, {
      what: 'the subscription to be open',
    });
    const before = sumOf(await apiMetrics(), 'patternwire_slow_consumer_closes_total');
    sockets[0]!.pause();
    // 50 KB each: a few hundred fill the kernel's socket buffers, then the server's queue.
    const padding = 'x'.repeat(50_000);
    const pipeline = publisher.pipeline();
    for (let i = 0; i < 400; i++) pipeline.publish(t.config.channels.patterns, detection(`${t.id}-slow${i}`, { padding }));
    await pipeline.exec();
    await waitFor(async () => sumOf(await apiMetrics(), 'patternwire_slow_consumer_closes_total') === before + 1, {
      timeoutMs: 60_000,
      what: 'patternwire_slow_consumer_closes_total to count the close',
    });
    sockets[0]!.resume();
    await waitFor(() => closes.includes(1013), { what: 'the client to see 1013' });
  });
});

describe('deploy/', () => {
  it('the Grafana dashboard asks only for metrics the running system exports', async () => {
    const dashboard = JSON.parse(readFileSync(`${PROJECT_ROOT}deploy/grafana-dashboard.json`, 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const s = await scrapeAll();
    const exported = new Set([...exportedNames(s.api), ...exportedNames(s.worker), ...exportedNames(s.ingest)]);
    const used = new Map<string, string>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        // Metric names: identifiers not followed by "(" (functions), not label names or keywords.
        const withoutLabels = target.expr.replace(/\{[^}]*\}/g, '').replace(/\b(by|without)\s*\([^)]*\)/g, '');
        for (const [name] of withoutLabels.matchAll(/\b[a-z_:][a-z0-9_:]*\b(?!\s*\()/g)) {
          if (/^(patternwire|graphql|process|nodejs)_/.test(name)) used.set(name, panel.title);
        }
      }
    }
    expect(used.size).toBeGreaterThanOrEqual(12);
    const missing = [...used].filter(([name]) => !exported.has(name)).map(([name, panel]) => `${name} (panel "${panel}")`);
    expect(missing).toEqual([]);
  });

  it('the Prometheus example scrapes the three roles, the API with a bearer credential', () => {
    const yml = readFileSync(`${PROJECT_ROOT}deploy/prometheus.yml`, 'utf8');
    for (const job of ['patternwire-api', 'patternwire-worker', 'patternwire-ingest']) expect(yml).toContain(`job_name: ${job}`);
    expect(yml).toMatch(/authorization:\s*\n\s*type: Bearer/);
  });
});
