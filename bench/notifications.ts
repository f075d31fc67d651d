/**
 * `npm run bench:notifications [-- --count 1000 --rate 100]`
 *
 * Notification delivery latency (contract §7): Patternwire's migrate/api/worker/ingest as child
 * processes on a fresh database (as `npm run bench` starts them, WEBHOOK_ALLOW_PRIVATE=true), one
 * webhook rule, and a receiver in this process that verifies every call with `standardwebhooks`.
 * `--count` detections matching the rule are published at `--rate`/s; for each delivery:
 * stored (the row's `stored_at`, the store transaction's start, database clock) → webhook
 * received (its body read here), and publish → webhook received. One machine, one clock.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { QUEUE_NAMES } from '../src/queues/queues.js';
import { createCleanup } from './lib/cleanup.js';
import { authHeaders } from './lib/credential.js';
import { createBenchEnv } from './lib/env.js';
import { startPatternwire } from './lib/patternwire.js';
import { percentile, waitUntil } from './lib/util.js';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const COUNT = option('count', 1_000);
const RATE = option('rate', 100);
const started = Date.now();
const log = (m: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${m}`);

async function main(): Promise<void> {
  if (COUNT > 1_000) throw new Error('--count may be at most 1000: the rule’s maxPerHour caps it (more would be SUPPRESSED)');
  const cleanup = createCleanup();
  try {
    const env = await createBenchEnv(cleanup);
    env.patternwireEnv['WEBHOOK_ALLOW_PRIVATE'] = 'true';
    const pw = await startPatternwire(cleanup, env, log);
    log(`Patternwire up (database ${env.databaseName}); ${COUNT} matching detections at ${RATE}/s`);

    // The receiver: verifies, records when each delivery's body had arrived, answers 204.
    const received = new Map<string, number>();
    let unverified = 0;
    let secret = '';
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = Date.now();
        try {
          new Webhook(secret).verify(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>);
          if (!received.has(String(req.headers['webhook-id']))) received.set(String(req.headers['webhook-id']), at);
        } catch {
          unverified++;
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.add('receiver', () => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as AddressInfo).port;

    const gql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
      const res = await fetch(`${pw.httpUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...authHeaders() },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
      if (body.errors?.length) throw new Error(body.errors[0]!.message);
      return body.data!;
    };
    const symbol = 'NOTIF';
    const list = await gql<{ createWatchlist: { id: string } }>(
      `mutation($s: [String!]) { createWatchlist(input: { name: "bench", filter: { symbols: $s } }) { id } }`,
      { s: [symbol] },
    );
    const rule = await gql<{ createNotificationRule: { secret: string } }>(
      `mutation($input: NotificationRuleInput!) { createNotificationRule(input: $input) { secret } }`,
      {
        input: {
          watchlistId: list.createWatchlist.id,
          channel: 'WEBHOOK',
          target: `http://127.0.0.1:${port}/bench`,
          minPriority: 'LOW',
          maxPerHour: 1000,
        },
      },
    );
    secret = rule.createNotificationRule.secret;

    const publisher = new Redis(env.redisUrl);
    cleanup.add('publisher', () => publisher.disconnect());
    const publishedAt = new Map<string, number>();
    const t0 = performance.now();
    for (let i = 0; i < COUNT; i++) {
      const eventId = `${env.id}-notify-${i}`;
      publishedAt.set(eventId, Date.now());
      await publisher.publish(
        env.patternsChannel,
        JSON.stringify({ event_id: eventId, pattern: 'BreakoutBO', symbol, confidence: 0.9, timeframe: '1d', source: 'bench' }),
      );
      const wait = t0 + ((i + 1) * 1000) / RATE - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    log(`published ${COUNT}; waiting for the webhooks`);
    await waitUntil(() => received.size >= COUNT, 120_000, `${COUNT} webhooks (got ${received.size})`, 100);

    const r = await pw.pool.query<{ id: string; event_id: string; stored: string; recorded: string; status: string }>(
      `SELECT d.id, p.event_id, extract(epoch FROM p.stored_at) * 1000 AS stored,
              extract(epoch FROM d.created_at) * 1000 AS recorded, d.status
         FROM notification_deliveries d JOIN pattern_detections p ON p.id = d.detection_id WHERE d.kind = 'ALERT'`,
    );
    const fromStored: number[] = [];
    const fromPublish: number[] = [];
    const toRecorded: number[] = [];
    const fromRecorded: number[] = [];
    for (const row of r.rows) {
      const at = received.get(row.id);
      if (at === undefined) continue;
      fromStored.push(at - Number(row.stored));
      fromPublish.push(at - publishedAt.get(row.event_id)!);
      toRecorded.push(Number(row.recorded) - Number(row.stored));
      fromRecorded.push(at - Number(row.recorded));
    }
    const stats = (label: string, values: number[]) => {
      const sorted = Float64Array.from(values).sort();
      const p = (q: number) => `${percentile(sorted, q)!.toFixed(1)} ms`;
      return `${label}: p50 ${p(50)}, p90 ${p(90)}, p99 ${p(99)}, max ${p(100)}`;
    };
    log(
      `deliveries ${r.rows.length} (${r.rows.filter((x) => x.status === 'DELIVERED').length} DELIVERED), ` +
        `webhooks received ${received.size}, unverified ${unverified}`,
    );
    log(stats('stored → webhook received', fromStored));
    log(stats('published → webhook received', fromPublish));
    // Where the time goes: the writer's part (store → its delivery insert's transaction start:
    // publish to subscribers, matching) and the sending part (queue, claim, HTTP).
    log(stats('  stage: stored → delivery recorded', toRecorded));
    log(stats('  stage: delivery recorded → webhook received', fromRecorded));
    // The queue's view: added → taken by a worker slot, and the attempt itself (claim, send, settle).
    const queue = new Queue(QUEUE_NAMES.notifications, { connection: publisher, prefix: env.queuePrefix });
    const jobs = await queue.getJobs(['completed'], 0, -1);
    log(
      stats(
        '  queue: added → taken',
        jobs.map((j) => (j.processedOn ?? 0) - j.timestamp),
      ),
    );
    log(
      stats(
        '  queue: taken → finished',
        jobs.map((j) => (j.finishedOn ?? 0) - (j.processedOn ?? 0)),
      ),
    );
    await queue.close();
  } finally {
    await cleanup.run();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
