/**
 * `npm run bench:attacks`: the attacks issue 10 reported, replayed against a real API process
 * (authentication on, as deployed), each with what it gets now: HTTP status, error code, time,
 * and the API's resident memory before and after. A record for the issue note, not a test.
 */
import { readFileSync } from 'node:fs';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { createTestUser } from '../test/utils/auth.js';
import { freePort } from '../test/utils/resources.js';
import { createCleanup } from './lib/cleanup.js';
import { createBenchEnv } from './lib/env.js';
import { spawnNode, waitReady } from './lib/processes.js';

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function main(): Promise<void> {
  const cleanup = createCleanup();
  try {
    const env = await createBenchEnv(cleanup);
    const childEnv = {
      ...process.env,
      ...env.patternwireEnv,
      RATE_LIMIT_PER_SECOND: '20',
      RATE_LIMIT_BURST: '100',
      WS_MAX_PER_USER: '20',
    };
    const migrate = spawnNode(cleanup, 'migrate', ['src/cli.ts', 'migrate'], childEnv);
    if ((await migrate.exited).code !== 0) throw new Error(migrate.output());
    const admin = await createTestUser(env.databaseUrl, 'attacker', 'ADMIN');
    const reader = await createTestUser(env.databaseUrl, 'reader', 'READER');

    // Something to read: 5,000 detections and 500 rejected messages of 60 KiB each.
    const pool = new pg.Pool({ connectionString: env.databaseUrl, max: 1 });
    await pool.query(`INSERT INTO pattern_detections (event_id, symbol, pattern, confidence, tier, priority, detected_at, received_at, source, metadata)
      SELECT 'atk-' || g, 'AAPL', 'Doji', 0.5, 'DAILY', 'LOW', now(), now(), 'attack', jsonb_build_object('pad', repeat('x', 200)) FROM generate_series(1, 5000) g`);
    await pool.query(`INSERT INTO rejected_events (event_id, channel, reason, payload, byte_length, received_at)
      SELECT 'rej-' || g, 'c', 'r', convert_to(repeat('y', 61440), 'UTF8'), 61440, now() FROM generate_series(1, 500) g`);
    await pool.end();

    const port = await freePort();
    const api = spawnNode(cleanup, 'api', ['src/cli.ts', 'api'], { ...childEnv, PORT: String(port) });
    const http = `http://127.0.0.1:${port}`;
    await waitReady([api], async () => (await fetch(`${http}/healthz`)).status === 200, 60_000, 'api');

    const rows: string[] = [];
    const attack = async (name: string, run: () => Promise<{ status: string; code: string; bytes?: number }>) => {
      const before = rssMb(api.pid);
      const started = performance.now();
      const r = await run();
      const ms = performance.now() - started;
      const after = rssMb(api.pid);
      rows.push(
        `| ${name} | ${r.status} | ${r.code} | ${ms.toFixed(0)} ms | ${r.bytes === undefined ? '' : `${(r.bytes / 1024).toFixed(1)} KiB`} | ${before.toFixed(0)} → ${after.toFixed(0)} MB |`,
      );
    };
    const post = async (token: string, query: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${http}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
        body: JSON.stringify({ query }),
      });
      const text = await res.text();
      const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? (res.status === 200 ? 'data' : '');
      return { status: String(res.status), code, bytes: text.length, headers: res.headers };
    };
    const aliases = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

    await attack('no credential: `{ __schema { types { name } } }`', async () => {
      const res = await fetch(`${http}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ __schema { types { name } } }"}',
      });
      return { status: String(res.status), code: /"code":"([A-Z_]+)"/.exec(await res.text())?.[1] ?? '' };
    });
    const q400 = aliases(400, 'dailyPatterns(first: 500) { nodes { id symbol pattern confidence metadata } }');
    await attack(`400 aliases of dailyPatterns(first: 500) (${(q400.length / 1024).toFixed(0)} KB query)`, () =>
      post(admin.token, q400),
    );
    await attack('2,000 aliases of dailyPatterns(first: 500)', () =>
      post(admin.token, aliases(2000, 'dailyPatterns(first: 500) { nodes { id } }')),
    );
    await attack('10 aliases of rejectedEvents(first: 500) { payload }, as ADMIN', () =>
      post(admin.token, aliases(10, 'rejectedEvents(first: 500) { payload }')),
    );
    await attack('the same as READER', () => post(reader.token, aliases(10, 'rejectedEvents(first: 500) { payload }')));
    await attack('cross-origin page (Origin: https://evil.example)', async () => {
      const r = await post(admin.token, '{ me { name } }', { origin: 'https://evil.example' });
      return {
        ...r,
        code: `${r.code}; ACAO ${r.headers.get('access-control-allow-origin') ?? 'none'}, credentials ${r.headers.get('access-control-allow-credentials') ?? 'none'}`,
      };
    });
    await attack('10,000 subscriptions on one WebSocket', async () => {
      const client = createClient({
        url: `ws://127.0.0.1:${port}/graphql`,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${admin.token}` },
      });
      let accepted = 0;
      let refused = 0;
      const codes = new Set<string>();
      const outcome = new Promise<void>((resolve) => {
        let settled = 0;
        const done = () => ++settled === 10_000 && resolve();
        for (let i = 0; i < 10_000; i++) {
          client.subscribe(
            { query: 'subscription { patternAlert(filter: { symbols: ["NONE"] }) { id } }' },
            {
              next: () => undefined,
              error: (e) => {
                refused++;
                const c = (e as { extensions?: { code?: string } }[])[0]?.extensions?.code;
                if (c) codes.add(c);
                done();
              },
              complete: () => done(),
            },
          );
        }
        // The accepted ones never settle: count them once the refusals are in.
        const check = setInterval(() => {
          if (refused >= 9_900) {
            clearInterval(check);
            accepted = 10_000 - refused;
            resolve();
          }
        }, 50);
      });
      await outcome;
      await client.dispose();
      return { status: `${accepted} open, ${refused} refused`, code: [...codes].join(',') };
    });
    await attack('21 WebSockets of one user', async () => {
      const closes: number[] = [];
      const clients = Array.from({ length: 21 }, () =>
        createClient({
          url: `ws://127.0.0.1:${port}/graphql`,
          webSocketImpl: WebSocket,
          lazy: false,
          retryAttempts: 0,
          connectionParams: { authorization: `Bearer ${reader.token}` },
          onNonLazyError: () => undefined,
          on: { closed: (e) => closes.push((e as { code: number }).code) },
        }),
      );
      await new Promise((r) => setTimeout(r, 1_500));
      await Promise.all(clients.map(async (c) => c.dispose()));
      return { status: `${closes.filter((c) => c === 1008).length} closed with 1008`, code: '' };
    });
    await attack('150 requests at once with one token', async () => {
      const statuses = await Promise.all(Array.from({ length: 150 }, () => post(reader.token, '{ me { name } }')));
      const limited = statuses.filter((s) => s.status === '429').length;
      return { status: `${150 - limited} × 200, ${limited} × 429`, code: 'RATE_LIMITED' };
    });

    console.log('| attack | status | code | time | answer | API RSS |\n|---|---|---|---|---|---|');
    for (const r of rows) console.log(r);
  } finally {
    await cleanup.run();
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
