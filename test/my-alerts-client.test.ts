import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createMyAlertsClient, type MyAlert, type MyAlertsClientOptions } from '../src/client/my-alerts-client.js';
import { createTestUser, gqlAs, type TestUser } from './utils/auth.js';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { createTcpProxy } from './utils/tcp-proxy.js';
import { waitFor, waitForQuiet } from './utils/wait.js';

/**
 * The `myAlerts` client helper (src/client/my-alerts-client.ts) against the real system:
 * acknowledge-on-display moves the user's position, manual acknowledgement waits for the caller,
 * and a cut connection resumes without showing an alert twice or missing one.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

let t: TestEnv;
let system: TestSystem;
let publisher: Redis;
let db: pg.Client;
let sequence = 0;

beforeAll(async () => {
  t = await createTestEnv(disposers, 'myalertsclient', { AUTH_MODE: 'required' });
  system = await startTestSystem(disposers, t.config);
  publisher = new Redis(REDIS_URL);
  disposers.add(() => void publisher.disconnect());
  db = new pg.Client({ connectionString: t.config.databaseUrl });
  await db.connect();
  disposers.add(() => db.end());
});

async function publish(symbol: string) {
  const message = { event_id: `${t.id}-${++sequence}`, pattern: 'Doji', symbol, confidence: 0.7, timestamp: Date.now() / 1000 };
  await publisher.publish(t.config.channels.patterns, JSON.stringify(message));
}

async function storedIds(symbol: string): Promise<string[]> {
  const r = await db.query<{ id: string }>('SELECT id FROM pattern_detections WHERE symbol = $1 ORDER BY id', [symbol]);
  return r.rows.map((row) => row.id);
}

async function userWatching(name: string, symbol: string): Promise<TestUser> {
  const user = await createTestUser(t.config.databaseUrl!, name, 'READER');
  const r = await gqlAs(
    system.httpUrl,
    user.token,
    `mutation { createWatchlist(input: { name: "w", filter: { symbols: ["${symbol}"] } }) { id } }`,
  );
  expect(r.body.errors).toBeUndefined();
  return user;
}

const position = async (user: TestUser) =>
  (
    await gqlAs<{ inbox: { lastAcknowledgedId: string | null; unread: number } }>(
      system.httpUrl,
      user.token,
      '{ inbox { lastAcknowledgedId unread } }',
    )
  ).body.data!.inbox;

function start(user: TestUser, options: Partial<MyAlertsClientOptions> & { url?: string } = {}) {
  const shown: MyAlert[] = [];
  const client = createMyAlertsClient({
    url: system.wsUrl,
    credential: user.token,
    webSocketImpl: WebSocket,
    acknowledgeEveryMs: 50,
    backoff: { initialMs: 50, maxMs: 500 },
    onAlert: (a) => void shown.push(a),
    ...options,
  });
  disposers.add(() => client.close());
  return { client, shown };
}

async function subscribed(before: number) {
  await waitFor(
    async () => {
      const admin = await createTestUser(t.config.databaseUrl!, 'admin', 'ADMIN');
      const r = await gqlAs<{ systemHealth: { pipeline: { subscribers: number } } }>(
        system.httpUrl,
        admin.token,
        '{ systemHealth { pipeline { subscribers } } }',
      );
      return r.body.data!.systemHealth.pipeline.subscribers > before;
    },
    { what: 'the subscription to be open' },
  );
}

describe('createMyAlertsClient', () => {
  it("acknowledges on display: the user's position follows what the application showed", async () => {
    const user = await userWatching('shows', 'MCA');
    const { client, shown } = start(user, { acknowledge: 'on-display' });
    await waitFor(() => client.state() === 'live', { what: 'live' });
    await subscribed(0);
    for (let i = 0; i < 3; i++) await publish('MCA');
    await waitFor(() => shown.length === 3, { what: '3 alerts shown' });
    const ids = await storedIds('MCA');
    expect(shown.map((a) => a.detection.id)).toEqual(ids);
    await waitFor(async () => (await position(user)).lastAcknowledgedId === ids[2], {
      what: 'the position to reach the last shown',
    });
    expect((await position(user)).unread).toBe(0);
  });

  it('waits for the application to finish showing before acknowledging', async () => {
    const user = await userWatching('slow-display', 'MCS');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { client } = start(user, { acknowledge: 'on-display', onAlert: () => gate });
    await waitFor(() => client.state() === 'live', { what: 'live' });
    await subscribed(1);
    await publish('MCS');
    await waitFor(() => client.lastId() !== null, { what: 'the alert delivered' });
    const [id] = await storedIds('MCS');
    // Delivered, not yet shown: not acknowledged.
    const before = await position(user);
    expect(before.lastAcknowledgedId).not.toBe(id);
    expect(before.unread).toBe(1);
    release();
    await waitFor(async () => (await position(user)).lastAcknowledgedId === id, { what: 'acknowledged once shown' });
  });

  it('acknowledges only when asked in manual mode', async () => {
    const user = await userWatching('manual', 'MCM');
    const { client, shown } = start(user);
    await waitFor(() => client.state() === 'live', { what: 'live' });
    await subscribed(2);
    await publish('MCM');
    await publish('MCM');
    await waitFor(() => shown.length === 2, { what: '2 alerts' });
    expect((await position(user)).unread).toBe(2);
    await client.acknowledge();
    expect(await position(user)).toEqual({ lastAcknowledgedId: shown[1]!.detection.id, unread: 0 });
  });

  it('resumes after a cut connection without showing an alert twice or missing one', async () => {
    const user = await userWatching('cut', 'MCX');
    const proxy = await createTcpProxy(disposers, system.api!.port);
    const { client, shown } = start(user, { url: `ws://127.0.0.1:${proxy.port}/graphql` });
    await waitFor(() => client.state() === 'live', { what: 'live' });
    await subscribed(3);
    for (let i = 0; i < 5; i++) await publish('MCX');
    await waitFor(() => shown.length === 5, { what: '5 alerts' });
    proxy.cut();
    await waitFor(() => client.state() === 'reconnecting', { what: 'reconnecting' });
    // Missed while cut; nothing was acknowledged, so the replay also sends the first five again.
    for (let i = 0; i < 5; i++) await publish('MCX');
    await waitFor(async () => (await storedIds('MCX')).length === 10, { what: '10 stored' });
    proxy.restore();
    await waitFor(() => shown.length === 10, { what: '10 alerts' });
    await waitForQuiet(() => shown.length, { quietMs: 300 });
    expect(shown.map((a) => a.detection.id)).toEqual(await storedIds('MCX'));
    expect(shown.slice(5).every((a) => a.replayed)).toBe(true);
  });
});
