import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDisposers, createTestEnv } from './utils/env.js';
import { gql } from './utils/graphql.js';
import { startPrivateRedis, type PrivateRedis } from './utils/redis-server.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { waitFor } from './utils/wait.js';

/**
 * Redis goes away under a running system (a private redis-server, SIGKILLed): /healthz and
 * the GraphQL pipeline health say so promptly instead of hanging, and the system still shuts
 * down.
 */
const disposers = createDisposers();
let redis: PrivateRedis;
let system: TestSystem;

beforeAll(async () => {
  redis = await startPrivateRedis(disposers);
  const t = await createTestEnv(disposers, 'hzdown', { REDIS_URL: redis.url });
  system = await startTestSystem(disposers, t.config);
});
afterAll(async () => {
  // createTestEnv's teardown deletes the file's keys on this Redis: give it a (fresh, empty)
  // server on the same port to talk to rather than a reconnect loop, stopped after the rest.
  const last = createDisposers();
  try {
    await redis.kill();
    await startPrivateRedis(last, redis.port);
    await disposers.run();
  } finally {
    await last.run();
  }
});

async function healthz(): Promise<{ status: number; body: { status: string; reasons?: string[] }; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${system.httpUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: res.status, body: (await res.json()) as never, ms: Date.now() - started };
}

interface Pipeline {
  systemHealth: { pipeline: { status: string; reasons: string[] } };
}

async function pipelineHealth() {
  const res = await fetch(`${system.httpUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: '{ systemHealth { pipeline { status reasons } } }' }),
    signal: AbortSignal.timeout(8_000),
  });
  return (await res.json()) as { data?: Pipeline; errors?: unknown[] };
}

describe('/healthz with Redis gone', () => {
  it('answers 200 while Redis is up', async () => {
    const r = await healthz();
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
    const { body } = await gql<Pipeline>(system.httpUrl, '{ systemHealth { pipeline { status reasons } } }');
    expect(body.data!.systemHealth.pipeline).toEqual({ status: 'ok', reasons: [] });
  });

  it('answers 503 naming Redis within a few seconds of a SIGKILL, and the pipeline is down', async () => {
    await redis.kill();
    const killedAt = Date.now();
    // (a cast, not an annotation: the closure below assigns it, which TypeScript does not follow)
    let last = null as Awaited<ReturnType<typeof healthz>> | null;
    await waitFor(async () => (last = await healthz()).status === 503, {
      timeoutMs: 8_000,
      intervalMs: 100,
      what: '/healthz to answer 503',
    }).catch(
      () => undefined, // the assertions below say what it answered instead
    );
    expect(last?.status, JSON.stringify(last)).toBe(503);
    expect(Date.now() - killedAt).toBeLessThan(8_000);
    expect(last!.body.status).toBe('down');
    expect(last!.body.reasons?.some((reason) => /redis/i.test(reason))).toBe(true);
    // The database is fine and is not blamed.
    expect(last!.body.reasons?.some((reason) => /database/i.test(reason))).toBe(false);

    // Every later answer is just as prompt.
    const again = await healthz();
    expect(again.status).toBe(503);
    expect(again.ms).toBeLessThan(4_000);

    // GraphQL says so as promptly, with the same kind of reason.
    const asked = Date.now();
    const health = await pipelineHealth();
    expect(Date.now() - asked).toBeLessThan(4_000);
    expect(health.errors).toBeUndefined();
    expect(health.data!.systemHealth.pipeline.status).toBe('down');
    expect(health.data!.systemHealth.pipeline.reasons.some((reason) => /redis/i.test(reason))).toBe(true);
  });

  it('still shuts down with Redis gone', async () => {
    const started = Date.now();
    await system.close();
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
