/**
 * The delivery scenarios: fan-out, filtered, throughput and burst. Each run opens real
 * graphql-ws subscribers on one system, warms it up until every subscriber has seen an event,
 * publishes, then waits until everything expected has arrived (and, for Patternwire, is stored)
 * or nothing has moved for a while. Patternwire and the baseline alternate, run by run.
 */
import {
  DeliveryRecorder,
  makeSymbols,
  openSubscribers,
  PATTERNS,
  type EventOf,
  type SubscriberSpec,
  type TierHint,
} from '../lib/load.js';
import { cpuSeconds } from '../lib/processes.js';
import { loadavg } from 'node:os';
import { distribution, round, Samples, sleep, wallNow, type Distribution } from '../lib/util.js';
import { aggregateRuns, atLeast, atMost, rowsFor, zero } from './aggregate.js';
import type { BenchContext, MetricDef, ScenarioReport, System, Target } from './types.js';

type Load =
  | { kind: 'fixed'; rate: number; events: number }
  | { kind: 'max'; seconds: number; batch: number; rate: number; via: 'xadd' | 'publish' }
  | { kind: 'burst'; events: number };

export interface DeliveryPlan {
  scenario: string;
  subscribers: number;
  /** The symbols subscriber `s` filters on (null: no filter). */
  filterOf: (s: number) => string[] | null;
  /** Symbol, pattern (and tier hint) of event `i`. */
  eventOf: EventOf;
  /** What each subscriber subscribes to, when not `patternAlert` filtered by `filterOf`. */
  subscriberSpec?: (s: number) => SubscriberSpec;
  /** Whether subscriber `s` should receive event `i`. */
  matches: (s: number, i: number) => boolean;
  /** One warm-up event per symbol here (and tier, with `warmTiers`) reaches every subscriber. */
  warmSymbols: string[];
  warmTiers?: readonly TierHint[];
  /**
   * Unmeasured load at the scenario's rate before measuring (fixed-rate scenarios): the warm-up
   * symbols in turn, or with `asLoad` the measured events' mix (`eventOf`) under warm-up ids.
   */
  warmLoad?: { rate: number; seconds: number; asLoad?: boolean };
  load: Load;
  /** After publishing: give up once nothing has moved for this long … */
  settleMs: number;
  /** … or this long after publishing ended. */
  maxWaitMs: number;
}

export interface Sample {
  t: number;
  published: number;
  delivered: number;
  stored: number | null;
  queueDepth: number | null;
  streamBacklog: number | null;
}

export interface DeliveryRun {
  system: System;
  run: number;
  tag: string;
  subscribers: number;
  published: number;
  publishMs: number;
  offeredPerSec: number;
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  foreign: number;
  errors: string[];
  disconnects: number;
  latency: Distribution;
  publisherLag: Distribution;
  /** Patternwire: rows of this run stored at the end of the wait. */
  stored: number | null;
  notStored: number | null;
  /** Burst: from the first publish until everything was stored / delivered (null: never). */
  storedAllMs: number | null;
  deliveredAllMs: number | null;
  /** Throughput: within the publishing window. */
  storedPerSec: number | null;
  deliveredPerSec: number | null;
  queueDepthMax: number | null;
  queueDepthAtEnd: number | null;
  queueDepthFinal: number | null;
  /** Throughput via the stream: entries not yet read by the ingest. */
  streamBacklogMax: number | null;
  streamBacklogAtEnd: number | null;
  /** Unread in the stream when the wait ended (not counted as lost or not stored). */
  leftInStream: number | null;
  /** Milliseconds waited after publishing ended. */
  waitedMs: number;
  /** CPU seconds used by each of the system's processes during the run. */
  cpu: Record<string, number | null>;
  cpuTotal: number | null;
  /** Events delivered to at least one subscriber. */
  handledEvents: number;
  /** Baseline: messages the relay heard from Redis during the run (pub/sub loss shows here). */
  relayHeard: number | null;
  /**
   * Patternwire: where the time goes, per event (ms): publish → parsed by ingest (received_at),
   * → writer transaction start (stored_at), → first client receipt.
   */
  stages: Record<'ingest' | 'queueAndBatch' | 'commitToClient', Distribution> | null;
  /** The machine's 1-minute load average when the run started (others share the 2 cores). */
  loadAverage1m: number | null;
  /** Patternwire: the group-commit transactions that stored this run's rows. */
  writerBatches: { batches: number; meanSize: number | null; maxSize: number | null; perSecond: number | null } | null;
  /** CPU seconds of the bench process itself (publisher and clients) during the run. */
  benchCpu: number | null;
  samples: Sample[];
  /** Sorted latencies, kept for the CDF chart of fan-out (dropped before writing JSON). */
  sortedLatencies?: Float64Array;
}

export async function runDelivery(ctx: BenchContext, target: Target, plan: DeliveryPlan, run: number): Promise<DeliveryRun> {
  const { publisher } = ctx;
  const pw = target.pw;
  const tag = `${ctx.env.id}-${plan.scenario}-r${run}-${target.system === 'patternwire' ? 'pw' : 'bl'}`;

  // Start from an idle pipeline: a backlog from before would be measured here.
  if (pw && !(await pw.drain(15_000))) await pw.resetPipeline();

  const rec = new DeliveryRecorder(tag, plan.subscribers, plan.matches);
  const filters = Array.from({ length: plan.subscribers }, (_, s) => plan.filterOf(s));
  const subs = await openSubscribers(target.wsUrls ?? [target.wsUrl], filters, rec.onDelivery, 100, plan.subscriberSpec);
  try {
    // Warm-up: until every subscriber has had an event (its subscription is live end to end).
    const warmDeadline = Date.now() + 60_000;
    for (let roundNo = 0; rec.warmedCount < plan.subscribers; roundNo++) {
      if (Date.now() > warmDeadline) {
        throw new Error(
          `${target.system}: only ${rec.warmedCount} of ${plan.subscribers} subscribers got a warm-up event within 60 s (${subs.errors.join('; ')})`,
        );
      }
      await publisher.warmUp(target.channel, rec, plan.warmSymbols, roundNo, plan.warmTiers);
      const until = Date.now() + 1_000;
      while (rec.warmedCount < plan.subscribers && Date.now() < until) await sleep(20);
    }
    if (plan.warmLoad && plan.warmLoad.seconds > 0) {
      const { rate, seconds, asLoad } = plan.warmLoad;
      const warmEvent: EventOf = asLoad ? plan.eventOf : (j) => [plan.warmSymbols[j % plan.warmSymbols.length]!, 'Warmup'];
      await publisher.warmLoad(target.channel, rec, warmEvent, rate, seconds, 0);
    }
    if (pw) await pw.drain(15_000);
    await sleep(300);

    const startId = pw ? await pw.maxId() : 0;
    const load1m = round(loadavg()[0], 2);
    // The database stamps with the system clock; the bench with the monotonic one. Their offset:
    const clockOffset = Date.now() - wallNow();
    const heardBefore = target.heard ? await target.heard() : null;
    const storedPrefix = `${tag}-e`;
    const procs = target.processes();
    const cpuBefore = procs.map((p) => cpuSeconds(p.pid));
    const benchCpuBefore = process.cpuUsage();

    // Once a second: what was published, delivered, stored, queued.
    const samples: Sample[] = [];
    const t0 = performance.now();
    const t0Wall = wallNow();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [stored, depth, backlog] = pw
          ? await Promise.all([pw.maxId().then((m) => m - startId), pw.queueDepth().then((d) => d.depth), pw.streamBacklog()])
          : [null, null, null];
        samples.push({
          t: Math.round(performance.now() - t0),
          published: rec.published,
          delivered: rec.delivered,
          stored,
          queueDepth: depth,
          streamBacklog: backlog,
        });
        const next = t0 + samples.length * 1000;
        while (sampling && performance.now() < next) await sleep(Math.min(100, next - performance.now()));
      }
    })();

    // Patternwire: the time everything was stored, checked cheaply (max id) then exactly.
    let storedAllAt: number | null = null;
    let storedNow = 0;
    const checkStored = async (published: number) => {
      if (!pw || storedAllAt !== null || published <= 0) return;
      if ((await pw.maxId()) - startId < published) return;
      const at = performance.now();
      storedNow = await pw.storedCount(startId, storedPrefix);
      if (storedNow >= published) storedAllAt = at;
    };
    // A burst's total is known up front: watch for it while publishing, to time it closely.
    const burstTotal = plan.load.kind === 'burst' ? plan.load.events : 0;
    let watching = burstTotal > 0;
    const storedWatcher = (async () => {
      while (watching) {
        await checkStored(burstTotal).catch(() => undefined);
        await sleep(50);
      }
    })();

    const load = plan.load;
    const published =
      load.kind === 'fixed'
        ? await publisher.fixedRate(target.channel, load.events, load.rate, rec, plan.eventOf)
        : load.kind === 'burst'
          ? await publisher.burst(target.channel, load.events, rec, plan.eventOf)
          : await publisher.maxRate(
              target.channel,
              load.seconds,
              load.batch,
              load.rate,
              rec,
              plan.eventOf,
              pw ? load.via : 'publish',
            );
    const publishEnd = performance.now();

    // Throughput: what got through within the publishing window.
    const windowSeconds = load.kind === 'max' ? load.seconds : null;
    const deliveredAtEnd = rec.delivered;
    const storedAtEnd = pw && windowSeconds ? await pw.storedCount(startId, storedPrefix) : null;
    const depthAtEnd = pw ? (await pw.queueDepth()).depth : null;
    const backlogAtEnd = pw ? await pw.streamBacklog() : null;

    // Wait for the rest: all delivered (and stored), or nothing moving for settleMs, or maxWaitMs.
    watching = false;
    await storedWatcher;
    const expected = rec.expectedTotal();
    let lastProgress = performance.now();
    let lastSeen = -1;
    while (true) {
      await checkStored(published.published).catch(() => undefined);
      const stored = pw ? (storedAllAt !== null ? published.published : (await pw.maxId()) - startId) : 0;
      const progress = rec.delivered + rec.duplicates + stored;
      if (progress !== lastSeen) {
        lastSeen = progress;
        lastProgress = performance.now();
      }
      if (rec.delivered >= expected && (!pw || storedAllAt !== null)) break;
      const now = performance.now();
      if (now - lastProgress > plan.settleMs || now - publishEnd > plan.maxWaitMs) break;
      await sleep(50);
    }
    const waitedMs = performance.now() - publishEnd;
    const cpuAfter = procs.map((p) => cpuSeconds(p.pid));
    const benchCpu = process.cpuUsage(benchCpuBefore);

    // Through the stream, a publisher that outran the pipeline left entries nobody has read yet:
    // waiting, not lost. Stop the ingest (it acknowledges what it enqueued), let the bounded queue
    // empty, then count them; what is neither delivered nor in the stream is lost.
    let leftInStream: number | null = null;
    if (pw && load.kind === 'max' && load.via === 'xadd' && rec.delivered < expected) {
      await pw.stopIngest();
      await pw.drain(60_000);
      let before = -1;
      for (let i = 0; i < 300 && rec.delivered !== before; i++) {
        before = rec.delivered;
        await sleep(1_000);
      }
      leftInStream = await pw.streamBacklog();
    }
    // Late duplicates would arrive now, if at all.
    await sleep(300);
    const heard = target.heard && heardBefore !== null ? (await target.heard()) - heardBefore : null;
    sampling = false;
    await sampler;

    const cpu = Object.fromEntries(
      procs.map((p, k) => [p.name, cpuBefore[k] != null && cpuAfter[k] != null ? round(cpuAfter[k] - cpuBefore[k]) : null]),
    );
    const cpuValues = Object.values(cpu);
    const stored = pw ? await pw.storedCount(startId, storedPrefix) : null;
    const batches = pw ? await pw.writerBatches(startId, storedPrefix) : null;
    const stages = pw ? await stageBreakdown(pw, rec, startId, storedPrefix, clockOffset) : null;
    const depthFinal = pw ? (await pw.queueDepth()).depth : null;
    const sorted = rec.latencies.sorted();
    const lost = rec.lost() - (leftInStream ?? 0);
    const depths = samples.map((s) => s.queueDepth).filter((d): d is number => d !== null);
    const backlogs = samples.map((s) => s.streamBacklog).filter((d): d is number => d !== null);
    // A backlog left now would run beside the next measurement (of either system): clear it.
    if (pw && ((depthFinal !== null && depthFinal > 0) || leftInStream !== null)) await pw.resetPipeline();

    return {
      system: target.system,
      run,
      tag,
      subscribers: plan.subscribers,
      published: published.published,
      publishMs: round(published.durationMs)!,
      offeredPerSec: round(published.published / Math.max(0.001, published.durationMs / 1000), 0)!,
      expected,
      delivered: rec.delivered,
      lost,
      duplicated: rec.duplicates,
      unexpected: rec.unexpected,
      foreign: rec.foreign,
      errors: subs.errors,
      disconnects: subs.disconnects,
      latency: roundDist(distribution(sorted)),
      publisherLag: roundDist(distribution(published.lag.sorted())),
      stored,
      notStored: stored === null ? null : published.published - stored - (leftInStream ?? 0),
      leftInStream,
      storedAllMs: storedAllAt !== null ? round(storedAllAt - t0) : null,
      deliveredAllMs: lost === 0 && rec.delivered > 0 ? round(rec.lastDeliveryAt - t0Wall) : null,
      storedPerSec: windowSeconds && storedAtEnd !== null ? round(storedAtEnd / windowSeconds, 0) : null,
      deliveredPerSec: windowSeconds ? round(deliveredAtEnd / windowSeconds, 0) : null,
      queueDepthMax: depths.length ? Math.max(...depths, depthAtEnd ?? 0) : depthAtEnd,
      queueDepthAtEnd: depthAtEnd,
      queueDepthFinal: depthFinal,
      streamBacklogMax: backlogs.length ? Math.max(...backlogs, backlogAtEnd ?? 0) : backlogAtEnd,
      streamBacklogAtEnd: backlogAtEnd,
      waitedMs: round(waitedMs, 0)!,
      cpu,
      cpuTotal: cpuValues.every((v) => v !== null) ? round(cpuValues.reduce((a, b) => a + b, 0)) : null,
      handledEvents: rec.distinctEvents,
      relayHeard: heard,
      writerBatches: batches,
      stages,
      loadAverage1m: load1m,
      benchCpu: round((benchCpu.user + benchCpu.system) / 1e6),
      samples,
      sortedLatencies: sorted,
    };
  } finally {
    await subs.dispose();
  }
}

async function stageBreakdown(
  pw: NonNullable<Target['pw']>,
  rec: DeliveryRecorder,
  startId: number,
  prefix: string,
  clockOffset: number,
) {
  const ingest = new Samples();
  const queued = new Samples();
  const toClient = new Samples();
  for (const row of await pw.stageTimes(startId, prefix)) {
    const i = rec.indexOf(row.eventId);
    const sent = rec.sentAt.get(i) + clockOffset;
    const first = rec.firstDeliveryAt.get(i) + clockOffset;
    if (Number.isNaN(sent)) continue;
    ingest.push(row.receivedAt - sent);
    queued.push(row.storedAt - row.receivedAt);
    if (!Number.isNaN(first)) toClient.push(first - row.storedAt);
  }
  return {
    ingest: roundDist(distribution(ingest.sorted())),
    queueAndBatch: roundDist(distribution(queued.sorted())),
    commitToClient: roundDist(distribution(toClient.sorted())),
  };
}

function roundDist(d: Distribution): Distribution {
  return Object.fromEntries(
    Object.entries(d).map(([k, v]) => [k, k === 'count' ? v : round(v as number | null, 3)]),
  ) as unknown as Distribution;
}

/** The figures of one run that the table aggregates. */
export function flatten(r: DeliveryRun): Record<string, number | null> {
  return {
    published: r.published,
    offeredPerSec: r.offeredPerSec,
    expected: r.expected,
    delivered: r.delivered,
    lost: r.lost,
    duplicated: r.duplicated,
    unexpected: r.unexpected + r.foreign,
    disconnects: r.disconnects + r.errors.length,
    p50: r.latency.p50,
    p95: r.latency.p95,
    p99: r.latency.p99,
    max: r.latency.max,
    lagP99: r.publisherLag.p99,
    notStored: r.notStored,
    storedAllS: r.storedAllMs === null ? null : r.storedAllMs / 1000,
    deliveredAllS: r.deliveredAllMs === null ? null : r.deliveredAllMs / 1000,
    storedPerSec: r.storedPerSec,
    deliveredPerSec: r.deliveredPerSec,
    queueDepthMax: r.queueDepthMax,
    queueDepthAtEnd: r.queueDepthAtEnd,
    queueDepthFinal: r.queueDepthFinal,
    streamBacklogMax: r.streamBacklogMax,
    streamBacklogAtEnd: r.streamBacklogAtEnd,
    leftInStream: r.leftInStream,
    waitedS: r.waitedMs / 1000,
    stageIngestP50: r.stages?.ingest.p50 ?? null,
    stageIngestP99: r.stages?.ingest.p99 ?? null,
    stageQueueP50: r.stages?.queueAndBatch.p50 ?? null,
    stageQueueP99: r.stages?.queueAndBatch.p99 ?? null,
    stageClientP50: r.stages?.commitToClient.p50 ?? null,
    stageClientP99: r.stages?.commitToClient.p99 ?? null,
    batchMean: r.writerBatches?.meanSize ?? null,
    batchesPerSec: r.writerBatches?.perSecond ?? null,
    cpuMsPerEvent: r.cpuTotal !== null && r.handledEvents > 0 ? (r.cpuTotal * 1000) / r.handledEvents : null,
  };
}

export interface DeliveryOutcome {
  report: ScenarioReport;
  /** Every run's sorted latencies per system (for the CDF). */
  latencies: Record<System, Float64Array[]>;
}

/** Runs `plan` on both systems, alternating which goes first, and builds the table lines. */
async function runBoth(
  ctx: BenchContext,
  plan: DeliveryPlan,
  params: Record<string, unknown>,
  defs: MetricDef[],
  notes: string[],
): Promise<DeliveryOutcome> {
  const runs: DeliveryRun[] = [];
  for (let run = 1; run <= ctx.runs; run++) {
    const order: System[] = run % 2 ? ['patternwire', 'baseline'] : ['baseline', 'patternwire'];
    for (const system of order) {
      const r = await runDelivery(ctx, ctx.targets[system], plan, run);
      ctx.log(
        `  ${plan.scenario} run ${run} ${system.padEnd(11)} published ${r.published} (${r.offeredPerSec}/s), delivered ${r.delivered}/${r.expected}, ` +
          `lost ${r.lost}, dup ${r.duplicated}, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms` +
          (r.storedPerSec !== null
            ? `, stored ${r.storedPerSec}/s, delivered ${r.deliveredPerSec}/s, queue max ${r.queueDepthMax}`
            : '') +
          (r.writerBatches
            ? `, writer: ${r.writerBatches.batches} txns (mean ${r.writerBatches.meanSize}, max ${r.writerBatches.maxSize} rows, ${r.writerBatches.perSecond ?? '?'}/s)`
            : '') +
          (plan.load.kind === 'burst' ? `, all stored ${fmtS(r.storedAllMs)}, all delivered ${fmtS(r.deliveredAllMs)}` : '') +
          (r.relayHeard !== null && r.lost > 0 ? ` (the relay heard ${r.relayHeard} of ${r.published} from Redis)` : '') +
          (r.stages
            ? `; stages p50/p99: ingest ${r.stages.ingest.p50}/${r.stages.ingest.p99}, queue+batch ${r.stages.queueAndBatch.p50}/${r.stages.queueAndBatch.p99}, txn→client ${r.stages.commitToClient.p50}/${r.stages.commitToClient.p99} ms`
            : '') +
          `; load ${r.loadAverage1m}` +
          (r.errors.length ? `, errors: ${r.errors.join('; ')}` : ''),
      );
      runs.push(r);
    }
  }
  const bySystem = (s: System) => runs.filter((r) => r.system === s);
  const aggregated = aggregateRuns(defs, {
    patternwire: bySystem('patternwire').map(flatten),
    baseline: bySystem('baseline').map(flatten),
  });
  const latencies = {
    patternwire: bySystem('patternwire').map((r) => r.sortedLatencies!),
    baseline: bySystem('baseline').map((r) => r.sortedLatencies!),
  };
  for (const r of runs) delete r.sortedLatencies;
  return {
    report: {
      scenario: plan.scenario,
      params,
      runs: runs as unknown as Record<string, unknown>[],
      aggregated,
      rows: rowsFor(plan.scenario, defs, aggregated, ctx.runs),
      notes,
    },
    latencies,
  };
}

const fmtS = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(2)} s`);

export const COMMON: MetricDef[] = [
  { key: 'expected', label: 'deliveries expected', unit: '' },
  { key: 'delivered', label: 'delivered', unit: '' },
];
export const LOSS: MetricDef[] = [
  { key: 'lost', label: 'lost', unit: '', agg: 'sum', target: '0', check: zero },
  { key: 'duplicated', label: 'duplicated', unit: '', agg: 'sum', target: '0', check: zero },
  { key: 'unexpected', label: 'outside the filter / foreign', unit: '', agg: 'sum', target: '0', check: zero },
  { key: 'disconnects', label: 'disconnects + errors', unit: '', agg: 'sum', target: '0', check: zero },
  { key: 'notStored', label: 'published but not stored', unit: '', agg: 'sum', target: '0', check: zero, pwOnly: true },
];
const WRITER: MetricDef[] = [
  { key: 'batchMean', label: 'writer batch, mean rows per transaction', unit: '', pwOnly: true },
  { key: 'batchesPerSec', label: 'writer transactions per second', unit: '/s', pwOnly: true },
];
/** Patternwire's latency split at its own timestamps (first subscriber's receipt). */
const STAGES: MetricDef[] = [
  { key: 'stageIngestP50', label: 'stage p50: publish → ingest parsed', unit: 'ms', pwOnly: true },
  { key: 'stageIngestP99', label: 'stage p99: publish → ingest parsed', unit: 'ms', pwOnly: true },
  { key: 'stageQueueP50', label: 'stage p50: ingest → writer txn start (queue, batch)', unit: 'ms', pwOnly: true },
  { key: 'stageQueueP99', label: 'stage p99: ingest → writer txn start (queue, batch)', unit: 'ms', pwOnly: true },
  { key: 'stageClientP50', label: 'stage p50: txn start → first client (commit, publish, API)', unit: 'ms', pwOnly: true },
  { key: 'stageClientP99', label: 'stage p99: txn start → first client (commit, publish, API)', unit: 'ms', pwOnly: true },
];
const GENERATOR: MetricDef[] = [
  { key: 'lagP99', label: 'publisher lag p99 (generator health)', unit: 'ms' },
  { key: 'cpuMsPerEvent', label: 'CPU of the system per event delivered', unit: 'ms' },
];

// ---------------------------------------------------------------------------------------------

export interface FanOutOptions {
  subscribers: number;
  rate: number;
  seconds: number;
  warmupSeconds: number;
}

export function fanOut(ctx: BenchContext, o: FanOutOptions): Promise<DeliveryOutcome> {
  const symbols = makeSymbols(100);
  const plan: DeliveryPlan = {
    scenario: 'fan-out',
    subscribers: o.subscribers,
    filterOf: () => null,
    eventOf: (i) => [symbols[i % symbols.length]!, PATTERNS[i % PATTERNS.length]!],
    matches: () => true,
    warmSymbols: [symbols[0]!],
    warmLoad: { rate: o.rate, seconds: o.warmupSeconds },
    load: { kind: 'fixed', rate: o.rate, events: Math.round(o.rate * o.seconds) },
    settleMs: 3_000,
    maxWaitMs: 30_000,
  };
  const defs: MetricDef[] = [
    ...COMMON,
    ...LOSS,
    { key: 'p50', label: 'latency p50', unit: 'ms', target: '≤ 10 ms', check: atMost(10) },
    { key: 'p95', label: 'latency p95', unit: 'ms' },
    {
      key: 'p99',
      label: 'latency p99',
      unit: 'ms',
      target: '≤ 30 ms and ≤ 3× baseline',
      check: (pw, base) => (pw === null || base === null ? false : pw <= 30 && pw <= 3 * base),
    },
    { key: 'max', label: 'latency max', unit: 'ms' },
    ...STAGES,
    ...GENERATOR,
  ];
  return runBoth(ctx, plan, { ...o }, defs, []);
}

export interface FilteredOptions {
  subscribers: number;
  symbols: number;
  rate: number;
  seconds: number;
  warmupSeconds: number;
}

export function filtered(ctx: BenchContext, o: FilteredOptions): Promise<DeliveryOutcome> {
  const symbols = makeSymbols(o.symbols);
  const plan: DeliveryPlan = {
    scenario: 'filtered',
    subscribers: o.subscribers,
    filterOf: (s) => [symbols[s % symbols.length]!],
    // Round-robin over the symbols: every symbol's subscribers get rate/symbols events a second.
    eventOf: (i) => [symbols[i % symbols.length]!, PATTERNS[i % PATTERNS.length]!],
    matches: (s, i) => s % symbols.length === i % symbols.length,
    warmSymbols: symbols.slice(0, Math.min(symbols.length, o.subscribers)),
    warmLoad: { rate: o.rate, seconds: o.warmupSeconds },
    load: { kind: 'fixed', rate: o.rate, events: Math.round(o.rate * o.seconds) },
    settleMs: 3_000,
    maxWaitMs: 30_000,
  };
  const defs: MetricDef[] = [
    ...COMMON,
    ...LOSS,
    { key: 'p50', label: 'latency p50', unit: 'ms' },
    { key: 'p95', label: 'latency p95', unit: 'ms' },
    { key: 'p99', label: 'latency p99', unit: 'ms', target: '≤ 50 ms', check: atMost(50) },
    { key: 'max', label: 'latency max', unit: 'ms' },
    ...STAGES,
    ...GENERATOR,
  ];
  return runBoth(ctx, plan, { ...o }, defs, []);
}

export interface ThroughputOptions {
  seconds: number;
  /** 0: as fast as the publisher can. */
  rate: number;
  batch: number;
  drainSeconds: number;
  /** "Bounded": the backlog at the end of the window is at most this. */
  boundedDepth: number;
  target: number;
  via: 'xadd' | 'publish';
}

export function throughput(ctx: BenchContext, o: ThroughputOptions): Promise<DeliveryOutcome> {
  const symbols = makeSymbols(100);
  const plan: DeliveryPlan = {
    scenario: 'throughput',
    subscribers: 1,
    filterOf: () => null,
    eventOf: (i) => [symbols[i % symbols.length]!, PATTERNS[i % PATTERNS.length]!],
    matches: () => true,
    warmSymbols: [symbols[0]!],
    load: { kind: 'max', seconds: o.seconds, batch: o.batch, rate: o.rate, via: o.via },
    settleMs: Math.min(10_000, o.drainSeconds * 1000),
    maxWaitMs: o.drainSeconds * 1000,
  };
  const defs: MetricDef[] = [
    { key: 'published', label: 'published', unit: '' },
    { key: 'offeredPerSec', label: 'offered (published/s)', unit: '/s' },
    {
      key: 'storedPerSec',
      label: `stored/s within the ${o.seconds} s`,
      unit: '/s',
      target: `≥ ${o.target}/s`,
      check: atLeast(o.target),
      pwOnly: true,
    },
    {
      key: 'deliveredPerSec',
      label: `delivered/s within the ${o.seconds} s`,
      unit: '/s',
      target: `≥ ${o.target}/s`,
      check: (pw) => atLeast(o.target)(pw),
    },
    { key: 'queueDepthMax', label: 'queue depth max, jobs of ≤ 100 (sampled 1/s)', unit: '', pwOnly: true },
    {
      key: 'queueDepthAtEnd',
      label: `queue depth at the end of the ${o.seconds} s, jobs`,
      unit: '',
      target: `bounded: ≤ ${o.boundedDepth}`,
      check: atMost(o.boundedDepth),
      pwOnly: true,
    },
    { key: 'queueDepthFinal', label: `queue depth after ≤ ${o.drainSeconds} s drain`, unit: '', pwOnly: true },
    ...(o.via === 'xadd'
      ? [
          { key: 'streamBacklogMax', label: 'unread in the stream, max (the publisher is ahead)', unit: '', pwOnly: true },
          { key: 'streamBacklogAtEnd', label: `unread in the stream at the end of the ${o.seconds} s`, unit: '', pwOnly: true },
        ]
      : []),
    { key: 'waitedS', label: `drain: after publishing, until all delivered (≤ ${o.drainSeconds} s)`, unit: 's' },
    ...(o.via === 'xadd'
      ? [
          {
            key: 'leftInStream',
            label: 'left unread in the stream when the wait ended (waiting, not lost)',
            unit: '',
            pwOnly: true,
          },
        ]
      : []),
    { key: 'lost', label: 'lost (not delivered, and not waiting in the stream)', unit: '', agg: 'sum', target: '0', check: zero },
    { key: 'duplicated', label: 'duplicated', unit: '', agg: 'sum', target: '0', check: zero },
    {
      key: 'notStored',
      label: 'not stored, and not waiting in the stream',
      unit: '',
      agg: 'sum',
      target: '0',
      check: zero,
      pwOnly: true,
    },
    { key: 'disconnects', label: 'disconnects + errors', unit: '', agg: 'sum', target: '0', check: zero },
    ...WRITER,
    { key: 'p50', label: 'latency p50 (under overload)', unit: 'ms' },
    { key: 'p99', label: 'latency p99 (under overload)', unit: 'ms' },
    { key: 'cpuMsPerEvent', label: 'CPU of the system per event delivered', unit: 'ms' },
  ];
  const command =
    o.via === 'xadd' ? 'XADD (Patternwire: the stream its ingest reads while the queue has room; baseline: PUBLISH)' : 'PUBLISH';
  const notes = [
    o.rate > 0
      ? `publisher paced to ${o.rate}/s in pipelines of ${o.batch} ${command}`
      : `publisher unpaced: pipelines of ${o.batch} ${command}, each sent when the previous one is acknowledged`,
    `rates count what was stored / delivered during the ${o.seconds} s of publishing; afterwards the bench waits up to ${o.drainSeconds} s for the rest`,
  ];
  return runBoth(ctx, plan, { ...o }, defs, notes);
}

export interface BurstOptions {
  events: number;
  subscribers: number;
  timeoutSeconds: number;
  withinSeconds: number;
}

export function burst(ctx: BenchContext, o: BurstOptions): Promise<DeliveryOutcome> {
  const symbols = makeSymbols(100);
  const plan: DeliveryPlan = {
    scenario: 'burst',
    subscribers: o.subscribers,
    filterOf: () => null,
    eventOf: (i) => [symbols[i % symbols.length]!, PATTERNS[i % PATTERNS.length]!],
    matches: () => true,
    warmSymbols: [symbols[0]!],
    load: { kind: 'burst', events: o.events },
    settleMs: 10_000,
    maxWaitMs: o.timeoutSeconds * 1000,
  };
  const within = (v: number | null) => (v === null ? false : v <= o.withinSeconds);
  const defs: MetricDef[] = [
    { key: 'published', label: 'published at once', unit: '' },
    { key: 'storedAllS', label: 'all stored after', unit: 's', target: `≤ ${o.withinSeconds} s`, check: within, pwOnly: true },
    { key: 'deliveredAllS', label: 'all delivered after', unit: 's', target: `≤ ${o.withinSeconds} s`, check: within },
    { key: 'lost', label: 'lost', unit: '', agg: 'sum', target: '0', check: zero },
    { key: 'duplicated', label: 'duplicated', unit: '', agg: 'sum', target: '0', check: zero },
    { key: 'notStored', label: 'published but not stored', unit: '', agg: 'sum', target: '0', check: zero, pwOnly: true },
    { key: 'disconnects', label: 'disconnects + errors', unit: '', agg: 'sum', target: '0', check: zero },
    ...WRITER,
    { key: 'p50', label: 'latency p50', unit: 'ms' },
    { key: 'p99', label: 'latency p99', unit: 'ms' },
    { key: 'cpuMsPerEvent', label: 'CPU of the system per event delivered', unit: 'ms' },
  ];
  return runBoth(ctx, plan, { ...o }, defs, [
    `published as ${Math.ceil(o.events / 1000)} pipelines of ≤ 1000 PUBLISH, not waiting in between`,
  ]);
}
