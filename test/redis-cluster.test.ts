import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/env.js';
import { createDisposers, createTestEnv } from './utils/env.js';
import { collect, createWsClient, eventually, gql } from './utils/graphql.js';
import { keySlot, scanClusterKeys, startRedisCluster } from './utils/redis-cluster.js';
import { startTestSystem } from './utils/system.js';
import { waitForQuiet } from './utils/wait.js';

/**
 * Fault 6 of issue 3: the whole pipeline (pub/sub and stream ingest, BullMQ, workers,
 * graphql-redis-subscriptions, graphql-ws) on a 3-master Redis Cluster this test starts itself,
 * and every key the system created sits in the slot of its hash tag.
 */
const disposers = createDisposers();
afterAll(() => disposers.run(), 60_000);

const PUBSUB_BURST = 500;
const STREAM_BURST = 60;
/** Sent both ways (PUBLISH and XADD) with the same event_id: must still be one row and one alert. */
const BOTH_WAYS = 20;
const PROGRESS_STEPS = 20;

interface Alert {
  id: string;
  eventId: string;
}

type PatternsPage = { patterns: { nodes: { eventId: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };

async function storedEventIds(httpUrl: string, symbol: string): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (;;) {
    const { body }: { body: { data?: PatternsPage | null; errors?: unknown } } = await gql<PatternsPage>(
      httpUrl,
      `query($s: [String!], $after: String) { patterns(filter: { symbols: $s }, first: 500, after: $after) { nodes { eventId } pageInfo { hasNextPage endCursor } } }`,
      { s: [symbol], after },
    );
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    ids.push(...body.data!.patterns.nodes.map((n) => n.eventId));
    if (!body.data!.patterns.pageInfo.hasNextPage) return ids;
    after = body.data!.patterns.pageInfo.endCursor;
  }
}

describe('Redis Cluster (REDIS_CLUSTER_NODES)', () => {
  it('runs the whole pipeline on 3 masters, exactly once, with every key in the slot of its hash tag', async () => {
    const started = Date.now();
    const cluster = await startRedisCluster(disposers, { masters: 3 });
    const clusterUpMs = Date.now() - started;
    const t = await createTestEnv(disposers, 'cluster', {
      REDIS_CLUSTER_NODES: cluster.nodeList,
      REDIS_URL: cluster.url,
      INGEST_STREAMS: 'true',
    });
    expect(t.config.redis.clusterNodes).toHaveLength(3);
    const system = await startTestSystem(disposers, t.config);

    const publisher = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })));
    publisher.on('error', () => undefined);
    disposers.add(() => void publisher.disconnect());

    const symbol = 'CLSTR';
    const jobId = `${t.id}-bt`;
    const client = createWsClient(disposers, system.wsUrl);
    const alerts = collect<{ patternAlert: Alert }>(
      client,
      `subscription($s: [String!]) { patternAlert(filter: { symbols: $s }) { id eventId } }`,
      {
        s: [symbol],
      },
    );
    const progress = collect<{ backtestProgress: { progress: number; status: string } }>(
      client,
      `subscription($jobId: ID) { backtestProgress(jobId: $jobId) { progress status } }`,
      { jobId },
    );
    // Both subscriptions are registered on the server once it counts them.
    await eventually(
      async () => {
        const { body } = await gql<{ systemHealth: { pipeline: { subscribers: number } } }>(
          system.httpUrl,
          `{ systemHealth { pipeline { subscribers } } }`,
        );
        return (body.data?.systemHealth.pipeline.subscribers ?? 0) >= 2;
      },
      10_000,
      'the server to register both subscriptions',
    );

    const detection = (eventId: string, i: number) =>
      JSON.stringify({
        event_id: eventId,
        pattern: 'BreakoutBO',
        symbol,
        confidence: 0.6 + (i % 40) / 100,
        timestamp: Date.now() / 1000,
      });
    const expected = new Set<string>();
    const burstStarted = Date.now();
    // PUBLISH on a cluster is broadcast to every node: the ingest hears it whichever node it subscribed on.
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < PUBSUB_BURST; i++) {
      const eventId = `${t.id}-ps-${i}`;
      expected.add(eventId);
      sends.push(publisher.publish(t.config.channels.patterns, detection(eventId, i)));
    }
    for (let i = 0; i < STREAM_BURST; i++) {
      const eventId = `${t.id}-xs-${i}`;
      expected.add(eventId);
      sends.push(publisher.xadd(t.config.channels.patterns, '*', 'message', detection(eventId, i)));
    }
    for (let i = 0; i < BOTH_WAYS; i++) {
      const eventId = `${t.id}-both-${i}`;
      expected.add(eventId);
      const raw = detection(eventId, i);
      sends.push(
        publisher.publish(t.config.channels.patterns, raw),
        publisher.xadd(t.config.channels.patterns, '*', 'message', raw),
      );
    }
    // Backtest progress goes through the control queue (global concurrency 1): in order, on the cluster too.
    // Published through ONE node: a cluster client sends a keyless PUBLISH to a random node, and
    // messages from different nodes reach the ingest's node over different bus links, so even
    // awaited one by one they can arrive out of order. Order holds only per publishing node.
    const oneNode = cluster.connections[0]!;
    for (let i = 1; i <= PROGRESS_STEPS; i++) {
      const p = {
        job_id: jobId,
        progress: i / PROGRESS_STEPS,
        status: i === PROGRESS_STEPS ? 'completed' : 'processing',
        timestamp: Date.now() / 1000,
      };
      sends.push(oneNode.publish(t.config.channels.backtestProgress, JSON.stringify(p)));
    }
    await Promise.all(sends);
    const published = PUBSUB_BURST + STREAM_BURST + BOTH_WAYS;

    await eventually(
      async () => (await storedEventIds(system.httpUrl, symbol)).length >= published,
      60_000,
      `${published} detections stored`,
    );
    await alerts.waitFor(published, 30_000);
    await progress.waitFor(PROGRESS_STEPS, 30_000);
    const burstMs = Date.now() - burstStarted;
    // Absence shows only as quiet: a late duplicate would have arrived by then.
    await waitForQuiet(() => alerts.results.length + progress.results.length, { quietMs: 1_000, what: 'late duplicates' });

    const stored = await storedEventIds(system.httpUrl, symbol);
    const delivered = alerts.data().map((d) => d.patternAlert);
    const deliveredIds = delivered.map((d) => d.id);
    const counts = {
      published,
      sentBothWays: BOTH_WAYS,
      stored: stored.length,
      storedDistinct: new Set(stored).size,
      delivered: delivered.length,
      deliveredDistinct: new Set(deliveredIds).size,
      duplicates: delivered.length - new Set(deliveredIds).size,
      deliveredOutOfIdOrder: deliveredIds.filter((id, i) => i > 0 && BigInt(id) <= BigInt(deliveredIds[i - 1]!)).length,
      progress: progress.results.length,
      clusterUpMs,
      burstMs,
    };
    console.log('[redis-cluster] counts', JSON.stringify(counts));

    expect(alerts.errors()).toEqual([]);
    expect(progress.errors()).toEqual([]);
    expect(new Set(stored)).toEqual(expected);
    expect(stored).toHaveLength(expected.size);
    expect(new Set(delivered.map((d) => d.eventId))).toEqual(expected);
    expect(delivered).toHaveLength(expected.size);
    // Published in id order by the worker, and heard in that order: on a cluster this holds only
    // because every message of a GraphQL channel goes through one node (src/pubsub/topics.ts).
    const outOfOrder = deliveredIds.filter((id, i) => i > 0 && BigInt(id) <= BigInt(deliveredIds[i - 1]!));
    expect(outOfOrder).toEqual([]);
    expect(progress.data().map((d) => d.backtestProgress.progress)).toEqual(
      Array.from({ length: PROGRESS_STEPS }, (_, i) => (i + 1) / PROGRESS_STEPS),
    );

    // Stream entries were all acknowledged (after enqueueing), on whichever node holds the stream.
    await eventually(
      async () => {
        const [pending] = (await publisher.xpending(t.config.channels.patterns, t.config.streams.group)) as [number];
        return pending === 0;
      },
      10_000,
      'no pending stream entries',
    );

    // Nothing failed, and nothing was refused as CROSSSLOT anywhere.
    for (const queue of [system.queues.detections, system.queues.control]) {
      const jobCounts = await queue.getJobCounts('failed', 'waiting', 'active', 'delayed', 'completed');
      expect(jobCounts, queue.name).toMatchObject({ failed: 0, waiting: 0, active: 0, delayed: 0 });
    }
    expect(system.logs.filter((l) => /CROSSSLOT|MOVED|ASK |TRYAGAIN|CLUSTERDOWN/.test(l))).toEqual([]);
    expect(system.logs.filter((l) => l.startsWith('error:'))).toEqual([]);

    // Every key on every master, grouped by the slot Redis computes for it.
    const keys = await scanClusterKeys(cluster);
    const tag = t.config.queuePrefix; // `{pwt-…}`: a hash tag, so one slot for every BullMQ key
    const tagSlot = await keySlot(cluster, tag);
    const channels = Object.values(t.config.channels);
    const bySlot = new Map<number, { node: string; keys: string[] }>();
    for (const { node, key } of keys) {
      const slot = await keySlot(cluster, key);
      const group = bySlot.get(slot) ?? { node, keys: [] };
      // A slot lives on exactly one master.
      expect(group.node, `slot ${slot}`).toBe(node);
      group.keys.push(key);
      bySlot.set(slot, group);
    }
    const bullKeys = keys.filter((k) => k.key.startsWith(`${tag}:`)).map((k) => k.key);
    const streamKeys = keys.filter((k) => channels.includes(k.key)).map((k) => k.key);
    // The system created nothing else: no stray key outside the tag and the streams.
    expect(keys.map((k) => k.key).filter((k) => !bullKeys.includes(k) && !streamKeys.includes(k))).toEqual([]);
    expect(bullKeys.length).toBeGreaterThan(0);
    for (const key of bullKeys) expect(await keySlot(cluster, key), key).toBe(tagSlot);
    expect(bySlot.get(tagSlot)!.keys.sort()).toEqual([...bullKeys].sort());
    // One stream per channel (MKSTREAM), each in the slot of its own name.
    expect(streamKeys.sort()).toEqual([...channels].sort());
    const streamSlots: Record<string, { slot: number; node: string }> = {};
    for (const { key, node } of keys.filter((k) => channels.includes(k.key))) {
      streamSlots[key] = { slot: await keySlot(cluster, key), node };
    }
    const bullNode = keys.find((k) => k.key.startsWith(`${tag}:`))!.node;
    const bullKinds = [
      ...new Set(
        bullKeys.map((k) => k.slice(tag.length + 1).replace(/:[^:]*$/, (m) => (/^:\d+$|^:[A-Za-z]+-/.test(m) ? ':<job>' : m))),
      ),
    ].sort();
    console.log(
      '[redis-cluster] slots',
      JSON.stringify({
        nodes: cluster.nodeList,
        bullmq: { tag, slot: tagSlot, node: bullNode, keys: bullKeys.length, kinds: bullKinds },
        streams: streamSlots,
        slotsUsed: bySlot.size,
      }),
    );
  });

  it('refuses, at start-up, a QUEUE_PREFIX without a hash tag on a cluster (BullMQ would fail every job with CROSSSLOT)', () => {
    const env = { REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' };
    expect(() => loadConfig({ ...env, QUEUE_PREFIX: 'patternwire' })).toThrow(
      /QUEUE_PREFIX: must contain a Redis Cluster hash tag/,
    );
    expect(() => loadConfig({ ...env, QUEUE_PREFIX: 'pw{}' })).toThrow(/QUEUE_PREFIX/);
    expect(loadConfig({ ...env }).queuePrefix).toBe('{patternwire}');
    expect(loadConfig({ ...env, QUEUE_PREFIX: 'prod-{pw}' }).queuePrefix).toBe('prod-{pw}');
    // A single server does not care.
    expect(loadConfig({ QUEUE_PREFIX: 'patternwire' }).queuePrefix).toBe('patternwire');
  });
});
