import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';
import { eventually, gql } from './utils/graphql.js';
import { startTestSystem } from './utils/system.js';

const disposers = createDisposers();
afterAll(() => disposers.run());

const detection = (eventId: string, symbol = 'XOM') => JSON.stringify({ event_id: eventId, pattern: 'Doji', symbol, confidence: 0.7 });

async function storedEventIds(httpUrl: string, symbol: string): Promise<string[]> {
  const { body } = await gql<{ patterns: { nodes: { eventId: string }[] } }>(
    httpUrl,
    `query($s: [String!]) { patterns(filter: { symbols: $s }, first: 500) { nodes { eventId } } }`,
    { s: [symbol] },
  );
  return body.data!.patterns.nodes.map((n) => n.eventId).sort();
}

describe('stream ingest (INGEST_STREAMS=true)', () => {
  it('reads what was added while no ingest ran, takes over a dead consumer’s entries, and stores each message once', async () => {
    const t = await createTestEnv(disposers, 'streams', { INGEST_STREAMS: 'true', INGEST_STREAM_CLAIM_MS: '500' });
    const stream = t.config.channels.patterns;
    const redis = new Redis(REDIS_URL);
    disposers.add(async () => {
      await redis.del(...Object.values(t.config.channels));
      redis.disconnect();
    });

    // 1. Delivered to a consumer that then died without acknowledging.
    await redis.xgroup('CREATE', stream, t.config.streams.group, '$', 'MKSTREAM');
    for (let i = 0; i < 3; i++) await redis.xadd(stream, '*', 'message', detection(`${t.id}-orphan-${i}`));
    const stolen = (await redis.xreadgroup('GROUP', t.config.streams.group, 'dead-consumer', 'COUNT', 100, 'STREAMS', stream, '>')) as [string, unknown[]][];
    expect(stolen[0]![1]).toHaveLength(3);
    // 2. Added while no ingest ran (pub/sub would have lost these).
    for (let i = 0; i < 5; i++) await redis.xadd(stream, '*', 'message', detection(`${t.id}-early-${i}`));

    const system = await startTestSystem(disposers, t.config);
    // 3. After start: the same message on the stream and on pub/sub, plus a duplicate entry.
    await redis.xadd(stream, '*', 'message', detection(`${t.id}-both`));
    await redis.publish(stream, detection(`${t.id}-both`));
    await redis.xadd(stream, '*', 'data', detection(`${t.id}-dup`));
    await redis.xadd(stream, '*', 'data', detection(`${t.id}-dup`));

    const expected = [
      ...Array.from({ length: 5 }, (_, i) => `${t.id}-early-${i}`),
      ...Array.from({ length: 3 }, (_, i) => `${t.id}-orphan-${i}`),
      `${t.id}-both`,
      `${t.id}-dup`,
    ].sort();
    await eventually(async () => (await storedEventIds(system.httpUrl, 'XOM')).length === expected.length, 10_000, 'all stream entries stored');
    expect(await storedEventIds(system.httpUrl, 'XOM')).toEqual(expected);
    // Everything was acknowledged: nothing pending for the group.
    await eventually(async () => {
      const [pending] = (await redis.xpending(stream, t.config.streams.group)) as [number];
      return pending === 0;
    }, 5_000, 'no pending entries');
  });
});
