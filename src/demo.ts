import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import type { Config } from './config/env.js';
import { demoCredential } from './runtime/demo-credential.js';

const WAIT_MS = 2_000;

interface Expectation {
  label: string;
  publishedAt: number;
  arrivedAt?: number;
}

/**
 * Publishes the three detections of the system Patternwire replaces, a four-step backtest
 * and a health report to Redis, while a graphql-ws client subscribed to the matching
 * subscriptions prints each arrival with its publish-to-receive latency. Exit status 1 if
 * anything has not arrived within 2 s of being published.
 */
export async function runDemo(config: Config, args: string[]): Promise<number> {
  const apiUrl = args[0] ?? process.env['DEMO_API_URL'] ?? `ws://localhost:${config.port}/graphql`;
  const wsUrl = apiUrl.replace(/^http/, 'ws');
  const run = randomUUID().slice(0, 8);
  const jobId = `demo-${run}`;
  const source = `demo-${run}`;
  const expected = new Map<string, Expectation>();
  const credential = await demoCredential(config);
  const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 1 });
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: credential.token ? { authorization: `Bearer ${credential.token}` } : {},
  });

  const arrived = (key: string, detail: string) => {
    const e = expected.get(key);
    if (!e || e.arrivedAt) return;
    e.arrivedAt = performance.now();
    console.log(`  ✓ ${e.label.padEnd(44)} ${detail.padEnd(34)} ${(e.arrivedAt - e.publishedAt).toFixed(1).padStart(7)} ms`);
  };

  try {
    console.log(`Patternwire demo ${run}: subscribing at ${wsUrl} (credential: ${credential.source})`);
    await new Promise<void>((resolve, reject) => {
      client.on('connected', () => resolve());
      client.on('closed', (e) =>
        reject(
          new Error(
            (e as { code?: number }).code === 4403
              ? `${wsUrl} refused the credential (4403): set PATTERNWIRE_TOKEN, or run against the npm start of this DATA_DIR`
              : `could not connect to ${wsUrl} (close code ${(e as { code?: number }).code ?? '?'})`,
          ),
        ),
      );
    });
    let healthReady!: () => void;
    const firstHealth = new Promise<void>((resolve) => (healthReady = resolve));
    subscribe(client, `subscription { patternAlert { id eventId symbol pattern tier priority confidence } }`, (d) => {
      const p = d['patternAlert'] as { eventId: string; tier: string; priority: string; id: string };
      arrived(p.eventId, `id ${p.id} ${p.tier} ${p.priority}`);
    });
    subscribe(
      client,
      `subscription($jobId: ID) { backtestProgress(jobId: $jobId) { jobId progress status } }`,
      (d) => {
        const p = d['backtestProgress'] as { progress: number; status: string };
        arrived(`progress-${p.progress}`, p.status);
      },
      { jobId },
    );
    subscribe(client, `subscription { systemHealth { publisher { status source } pipeline { status } } }`, (d) => {
      healthReady();
      const h = d['systemHealth'] as { publisher: { status: string; source: string } | null; pipeline: { status: string } };
      if (h.publisher?.source === source) arrived('health', `publisher ${h.publisher.status}, pipeline ${h.pipeline.status}`);
    });
    // systemHealth answers at once with the current state (after a database read), by which
    // time the two subscriptions sent before it are registered; the pause is a margin.
    await firstHealth;
    await new Promise((r) => setTimeout(r, 100));

    const publish = async (channel: string, key: string, label: string, message: object) => {
      expected.set(key, { label, publishedAt: performance.now() });
      await redis.publish(channel, JSON.stringify(message));
    };
    const now = Date.now() / 1000;
    const detections = [
      { pattern: 'BreakoutBO', symbol: 'AAPL', confidence: 0.95, tier: 'daily', timeframe: '1d' },
      { pattern: 'DivergenceDO', symbol: 'GOOGL', confidence: 0.87, tier: 'intraday', timeframe: '5m' },
      { pattern: 'ComboPattern', symbol: 'TSLA', confidence: 0.92, tier: 'combo', category: 'combo' },
    ];
    for (const [i, d] of detections.entries()) {
      const eventId = `demo-${run}-${i + 1}`;
      await publish(config.channels.patterns, eventId, `${d.pattern} ${d.symbol} ${d.tier} ${d.confidence}`, {
        event_id: eventId,
        source: 'TickStockPL',
        timestamp: now,
        ...d,
      });
    }
    for (const [i, progress] of [0.25, 0.5, 0.75, 1].entries()) {
      await publish(config.channels.backtestProgress, `progress-${progress}`, `backtest ${jobId} ${progress * 100}%`, {
        job_id: jobId,
        progress,
        status: progress < 1 ? 'processing' : 'completed',
        processed_symbols: (i + 1) * 25,
        timestamp: now + i,
      });
    }
    await publish(config.channels.health, 'health', 'health report (healthy)', {
      status: 'healthy',
      source,
      timestamp: now,
      metrics: { cpu_usage: 0.35, queue_depth: 0 },
    });

    const deadline = performance.now() + WAIT_MS;
    while (performance.now() < deadline && [...expected.values()].some((e) => !e.arrivedAt)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const missing = [...expected.values()].filter((e) => !e.arrivedAt);
    for (const e of missing) console.log(`  ✗ ${e.label}: nothing within ${WAIT_MS} ms`);
    console.log(missing.length ? `${missing.length} of ${expected.size} did not arrive.` : `All ${expected.size} arrived.`);
    return missing.length ? 1 : 0;
  } catch (err) {
    console.error(`demo failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await client.dispose();
    redis.disconnect();
    await credential.release();
  }
}

function subscribe(
  client: Client,
  query: string,
  onData: (data: Record<string, unknown>) => void,
  variables?: Record<string, unknown>,
) {
  client.subscribe<Record<string, unknown>>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) console.error(`  subscription error: ${result.errors.map((e) => e.message).join('; ')}`);
        else if (result.data) onData(result.data);
      },
      error: (err) => console.error(`  subscription failed: ${err instanceof Error ? err.message : JSON.stringify(err)}`),
      complete: () => {},
    },
  );
}
