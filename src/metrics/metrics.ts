/**
 * Every Prometheus metric Patternwire exports (contract §8), defined here and nowhere else, in
 * one registry per process. The API serves it at `/metrics` (ADMIN); `worker` and `ingest`
 * processes on `METRICS_PORT` (./http.ts). Each process counts what it did itself: with several
 * processes, Prometheus sums (or, for `patternwire_queue_jobs`, which every process reads from
 * the same Redis, takes the max of) their series.
 *
 * The room sits on floor 1, beside config, so every role (db, queues, workers, api) may count
 * into it; it imports nothing of the project but `lib/`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { withTimeout } from '../lib/timeout.js';
import { DELIVERY_STATUSES, NOTIFICATION_CHANNELS, type DeliveryStatus, type NotificationChannel } from '../schema/db.js';

export const registry = new Registry();

/** Contract §1's channels end up in one of these (see `inboundMessages`). */
export const INBOUND_OUTCOMES = ['accepted', 'rejected', 'duplicate'] as const;
export type InboundOutcome = (typeof INBOUND_OUTCOMES)[number];

/**
 * Inbound messages by channel and what became of them. The ingest counts `accepted` (valid,
 * enqueued) and `rejected` (broke contract §1); the worker counts `duplicate` (an accepted
 * detection whose `event_id` was already stored) and `rejected` again for a message the
 * database refused. So `duplicate` is a part of `accepted`; two ingest processes each count
 * every message they hear. Backtest and health messages heard twice are dropped by BullMQ's
 * job id before any worker sees them, and are not counted as duplicates.
 */
export const inboundMessages = new Counter({
  name: 'patternwire_inbound_messages_total',
  help: 'Inbound messages by channel and outcome (accepted/rejected by the ingest; duplicate and database refusals by the worker)',
  labelNames: ['channel', 'outcome'] as const,
  registers: [registry],
});

/** Bound counters of one channel, so the ingest's per-message path does not build label objects. */
export function inboundCounters(channel: string): Record<InboundOutcome, { inc(n?: number): void }> {
  const bound = (outcome: InboundOutcome) => {
    const child = inboundMessages.labels(channel, outcome);
    child.inc(0); // the series exists from the start, so rate() has a zero to start from
    return child;
  };
  return { accepted: bound('accepted'), rejected: bound('rejected'), duplicate: bound('duplicate') };
}

/** Rows inserted into `pattern_detections`, counted when the insert has committed. */
export const detectionsStored = new Counter({
  name: 'patternwire_detections_stored_total',
  help: 'Detections stored in PostgreSQL (new rows; a duplicate stores nothing)',
  registers: [registry],
});

/** One attempt of one BullMQ job, failed or not, from the worker's pick-up to its end. */
export const jobDuration = new Histogram({
  name: 'patternwire_job_duration_seconds',
  help: 'Time a worker spent on one attempt of a job, by queue',
  labelNames: ['queue'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const websocketConnections = new Gauge({
  name: 'patternwire_websocket_connections',
  help: 'WebSockets open on this API process',
  registers: [registry],
});

/** By the subscription's root field (`patternAlert`, `systemHealth`, …): names from the schema, so bounded. */
export const subscriptions = new Gauge({
  name: 'patternwire_subscriptions',
  help: 'Subscriptions open on this API process, by root field (graphql-ws and SSE)',
  labelNames: ['field'] as const,
  registers: [registry],
});

export const slowConsumerCloses = new Counter({
  name: 'patternwire_slow_consumer_closes_total',
  help: 'WebSockets closed (1013) because a subscription queued more than SUBSCRIBER_QUEUE_LIMIT events',
  registers: [registry],
});

type NotificationChannelLabel = NotificationChannel;
type NotificationStatusLabel = DeliveryStatus;

export const notifications = new Counter({
  name: 'patternwire_notifications_total',
  help: 'Notification deliveries by channel and the status each one reached (a delivery retried three times counts RETRYING three times)',
  labelNames: ['channel', 'status'] as const,
  registers: [registry],
});
for (const channel of NOTIFICATION_CHANNELS) for (const status of DELIVERY_STATUSES) notifications.labels(channel, status).inc(0);

/**
 * For the notification sender (contract §7): call once each time a delivery reaches a status
 * (created PENDING, each failed attempt RETRYING, then DELIVERED or FAILED; SUPPRESSED for one
 * held back by `maxPerHour`).
 */
export function countNotification(channel: NotificationChannelLabel, status: NotificationStatusLabel, n = 1): void {
  notifications.labels(channel, status).inc(n);
}

/**
 * A histogram for the per-event, per-subscriber path: `observe` is a loop over a typed array,
 * no allocation (prom-client's `Histogram.observe` builds a closure and label objects per call,
 * about 10× the cost). It speaks prom-client's metric protocol (`get()`), so it sits in the
 * registry like any other and is written out as the standard `_bucket`/`_sum`/`_count` lines.
 */
export class LatencyHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly bounds: Float64Array;
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
  ) {
    this.bounds = Float64Array.from(buckets);
    this.counts = new Float64Array(buckets.length + 1);
  }

  observe(seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  get() {
    const bucket = `${this.name}_bucket`;
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    let cumulative = 0;
    this.bounds.forEach((le, i) => {
      cumulative += this.counts[i]!;
      values.push({ labels: { le }, value: cumulative, metricName: bucket });
    });
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: bucket });
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

/**
 * Contract §8: from the moment a detection was stored (its row's `stored_at`, the writer's
 * transaction start, PostgreSQL's clock) to the moment graphql-ws has written its frame to one
 * subscriber's socket (the API's clock; hosts are assumed NTP-synced). Live deliveries only: a
 * replay (`after:`) delivers rows that may have been stored days ago.
 */
export const deliveryLatency = new LatencyHistogram(
  'patternwire_delivery_latency_seconds',
  'Stored (row stored_at) to frame written to a subscriber socket, per live detection per subscriber',
  [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
);
registry.registerMetric(deliveryLatency as unknown as Metric);

/** BullMQ job states, as `getJobCounts` names them. */
export const QUEUE_STATES = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'waiting-children',
  'paused',
  'completed',
  'failed',
] as const;

/** The part of a BullMQ `Queue` the collector reads. */
export interface CountableQueue {
  readonly name: string;
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

/** A scrape waits at most this long for Redis; a queue that did not answer is left out of that scrape. */
export const QUEUE_COUNT_TIMEOUT_MS = 1_000;

const watchedQueues = new Set<CountableQueue>();

/**
 * Read on every scrape, not kept up to date: one `getJobCounts` per queue, at most
 * `QUEUE_COUNT_TIMEOUT_MS`. A queue that does not answer (Redis down) has no series in that
 * scrape, which Prometheus shows as absent rather than as a stale number.
 */
export const queueJobs = new Gauge({
  name: 'patternwire_queue_jobs',
  help: 'BullMQ jobs by queue and state, read from Redis at scrape time',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
  async collect() {
    const counted = await Promise.all(
      [...watchedQueues].map((q) =>
        withTimeout(q.getJobCounts(...QUEUE_STATES), QUEUE_COUNT_TIMEOUT_MS).then(
          (counts) => ({ queue: q.name, counts }),
          () => null,
        ),
      ),
    );
    this.reset();
    for (const c of counted) {
      if (!c) continue;
      // Queues of one name under two prefixes (tests share a process) add up.
      for (const state of QUEUE_STATES) this.inc({ queue: c.queue, state }, c.counts[state] ?? 0);
    }
  },
});

/** Counts `queues` on every scrape until the returned function is called. */
export function watchQueues(queues: readonly CountableQueue[]): () => void {
  for (const q of queues) watchedQueues.add(q);
  return () => {
    for (const q of queues) watchedQueues.delete(q);
  };
}

let processMetrics = false;
/** Node's process metrics (CPU, memory, event loop lag, GC, handles), `process_*` and `nodejs_*`; once per process. */
export function enableProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: registry });
}

/** The Prometheus text exposition of every metric of this process. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}
export const METRICS_CONTENT_TYPE = registry.contentType;
