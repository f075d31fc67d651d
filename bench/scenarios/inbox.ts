/**
 * The inbox scenario (issue 11): `users` users, each with 10 watchlists (5 symbol lists, 5
 * tier/priority-only lists) and one `myAlerts` subscription, plus the heaviest user the limits
 * allow (50 watchlists of 500 symbols), at `rate` detections a second. Next to it, in the same
 * run, the plain `patternAlert` fan-out on the same Patternwire, twice:
 * - the mirror (the "baseline" column, the target's): the same users on as many sockets, each
 *   subscribed to plain `patternAlert` with filters that let through exactly the detections
 *   their watchlists match (one for the symbol lists, one for the tier lists), so the same
 *   alerts reach the same sockets in the same bursts. What is left between the two is what
 *   `myAlerts` itself costs: matching watchlists through the index and a per-user execution.
 * - unfiltered: as many unfiltered subscribers as myAlerts makes deliveries per detection, the
 *   same frames a second spread evenly over a few sockets instead of bursts to a thousand.
 * Then the replay: a user who missed 1,000 alerts subscribes; the time until all 1,000 are in.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createDatabase } from '../../src/db/client.js';
import { createUser, insertToken } from '../../src/db/identity.js';
import { priorityFor } from '../../src/domain/classify.js';
import { generateToken } from '../../src/domain/credentials.js';
import { WatchlistIndex, type SavedWatchlist } from '../../src/domain/watchlist-index.js';
import { sql, inArray } from 'drizzle-orm';
import { patternDetections, users, watchlists, type WatchlistFilter } from '../../src/schema/db.js';
import { TIERS } from '../../src/schema/events.js';
import { compileFilter, type FilterableDetection, type PatternFilter } from '../../src/domain/pattern-filter.js';
import { confidenceOf, makeSymbols, PATTERNS, SUBSCRIPTION, type EventOf } from '../lib/load.js';
import { round, sleep } from '../lib/util.js';
import { aggregateRuns, rowsFor } from './aggregate.js';
import { flatten, LOSS, runDelivery, type DeliveryPlan, type DeliveryRun } from './delivery.js';
import type { BenchContext, MetricDef, ScenarioReport } from './types.js';

export interface InboxOptions {
  users: number;
  rate: number;
  seconds: number;
  replay: number;
  warmupSeconds: number;
}

const WARM = 'ZWARM';
const REPLAY_SYMBOL = 'ZRPLY';
const TIER_HINTS = ['daily', 'intraday', 'combo'] as const;
const none: WatchlistFilter = { symbols: null, patterns: null, tiers: null, minConfidence: null, minPriority: null };

const ALERT_QUERY = 'subscription Inbox { myAlerts { detection { eventId } watchlists { id name } replayed } }';
const eventIdOf = (data: unknown) =>
  (data as { myAlerts?: { detection: { eventId: string } } } | null)?.myAlerts?.detection.eventId;
const plainEventIdOf = (data: unknown) => (data as { patternAlert?: { eventId: string } } | null)?.patternAlert?.eventId;

/**
 * User `u`'s ten watchlists: five of three symbols (the first also the warm-up symbol), five of
 * tier `TIERS[u % 3]` above a high confidence (bench/inbox-cpu.ts uses them too).
 */
export function typicalWatchlists(u: number, symbols: string[]): WatchlistFilter[] {
  const tier = TIERS[u % 3]!;
  return Array.from({ length: 10 }, (_, k) =>
    k < 5
      ? {
          ...none,
          symbols: [
            ...(k === 0 ? [WARM] : []),
            ...Array.from({ length: 3 }, (_, j) => symbols[((u * 15 + k * 3 + j) * 7) % symbols.length]!),
          ],
        }
      : { ...none, tiers: [tier], minPriority: 'HIGH' as const, minConfidence: 0.97 + ((u + k) % 3) / 100 },
  );
}

function heaviestWatchlists(symbols: string[]): WatchlistFilter[] {
  return Array.from({ length: 50 }, (_, w) => ({
    ...none,
    symbols: [
      ...(w === 0 ? [WARM] : []),
      ...Array.from({ length: w === 0 ? 499 : 500 }, (_, j) => symbols[(w * 500 + j) % symbols.length]!),
    ],
  }));
}

/**
 * Plain `patternAlert` filters that let through exactly what `lists` match: the symbol lists as
 * one, the tier lists (the same tiers and priority, confidences apart) as another at their lowest
 * confidence. Only the two shapes this scenario makes; `inbox` checks the result event by event.
 */
function mirrorFilters(lists: readonly WatchlistFilter[]): PatternFilter[] {
  const symbolLists = lists.filter((l) => l.symbols);
  const tierLists = lists.filter((l) => !l.symbols);
  const out: PatternFilter[] = [];
  if (symbolLists.length) out.push({ symbols: [...new Set(symbolLists.flatMap((l) => l.symbols!))] });
  if (tierLists.length) {
    const [first] = tierLists;
    out.push({
      tiers: first!.tiers,
      minPriority: first!.minPriority,
      minConfidence: Math.min(...tierLists.map((l) => l.minConfidence ?? 0)),
    });
  }
  return out;
}

export async function inbox(ctx: BenchContext, o: InboxOptions): Promise<ScenarioReport> {
  const symbols = makeSymbols(2000);
  const database = await createDatabase({ url: ctx.env.databaseUrl, dataDir: '.data', poolSize: 4 });
  ctx.cleanup.add('inbox scenario database pool', () => database.close());

  // Users, tokens, watchlists: straight into the database (the API's own rules are tested elsewhere).
  const setupStarted = performance.now();
  const tokens: string[] = [];
  const userIds: number[] = [];
  const lists: SavedWatchlist[][] = [];
  for (let u = 0; u <= o.users; u++) {
    const heaviest = u === o.users;
    const user = (await createUser(database.db, `inbox-${ctx.env.id}-${u}`, 'READER'))!;
    const { token, hash } = generateToken();
    await insertToken(database.db, { userId: user.id, name: 'bench', hash, expiresAt: null });
    tokens.push(token);
    userIds.push(user.id);
    const filters = heaviest ? heaviestWatchlists(symbols) : typicalWatchlists(u, symbols);
    const rows = await database.db
      .insert(watchlists)
      .values(filters.map((filter, k) => ({ userId: user.id, name: `w${k}`, filter })))
      .returning({ id: watchlists.id, filter: watchlists.filter });
    lists.push(rows);
  }
  ctx.log(
    `  inbox: ${o.users} users × 10 watchlists and one of 50 × 500 symbols in ${round((performance.now() - setupStarted) / 1000, 1)} s`,
  );

  // Event i: a symbol round-robin over 2,000, a tier in turn; who should get it, once, from an index.
  const eventOf: EventOf = (i) => [symbols[i % symbols.length]!, PATTERNS[i % PATTERNS.length]!, TIER_HINTS[i % 3]];
  const index = new WatchlistIndex<number, SavedWatchlist>();
  lists.forEach((l, u) => index.set(u, l));
  const events = Math.round(o.rate * o.seconds);
  const detectionOf = (i: number): FilterableDetection => {
    const [symbol, pattern] = eventOf(i);
    const confidence = confidenceOf(i);
    return { symbol, pattern, tier: TIERS[i % 3]!, confidence, priority: priorityFor(confidence), detectedAt: new Date() };
  };
  const recipients: Set<number>[] = Array.from(
    { length: events },
    (_, i) => new Set(index.match(detectionOf(i)).map(([owner]) => owner)),
  );
  const perEvent = recipients.reduce((n, r) => n + r.size, 0) / events;

  // The mirror: each user's socket with plain patternAlert subscriptions whose filters let
  // through what their watchlists match. The heaviest user's 25,000 symbols cover every symbol
  // published, so theirs is unfiltered.
  const mirror = lists.flatMap((l, u) =>
    (u === o.users ? [null] : mirrorFilters(l.map((w) => w.filter))).map((filter) => ({ user: u, filter })),
  );
  const mirrorCompiled = mirror.map((m) => compileFilter(m.filter));
  const mirrorRecipients: Set<number>[] = Array.from({ length: events }, (_, i) => {
    const d = detectionOf(i);
    return new Set(mirrorCompiled.flatMap((c, m) => (c.matches(d) ? [m] : [])));
  });
  // A check of this scenario, not of Patternwire: the mirror must reach the same users.
  let overlaps = 0;
  mirrorRecipients.forEach((subs, i) => {
    const reached = new Set([...subs].map((m) => mirror[m]!.user));
    if (reached.size !== recipients[i]!.size || [...reached].some((u) => !recipients[i]!.has(u))) {
      throw new Error(`inbox: the mirror's filters reach other users than the watchlists for event ${i}`);
    }
    overlaps += subs.size - reached.size;
  });
  const plainSubscribers = Math.max(1, Math.round(perEvent));
  ctx.log(
    `  inbox: ${round(perEvent, 1)} myAlerts deliveries per detection expected; the mirror ${mirror.length} subscriptions ` +
      `(${overlaps} more deliveries in all, where both of a user's filters match); the unfiltered fan-out ${plainSubscribers} subscribers`,
  );

  // Before each plan's measurement, the same mix at the same rate under warm-up ids: every plan
  // starts with its own paths compiled and its sockets' buffers grown, not only the one that
  // happens to run second.
  const common = {
    warmLoad: { rate: o.rate, seconds: o.warmupSeconds, asLoad: true },
    load: { kind: 'fixed' as const, rate: o.rate, events },
    settleMs: 3_000,
    maxWaitMs: 30_000,
    eventOf,
  };
  // The scenario names differ so that each plan's runs get event ids of their own.
  const myAlertsPlan: DeliveryPlan = {
    scenario: 'inbox-myalerts',
    subscribers: o.users + 1,
    filterOf: () => null,
    subscriberSpec: (s) => ({ query: ALERT_QUERY, token: tokens[s]!, eventIdOf }),
    matches: (s, i) => recipients[i]?.has(s) ?? false,
    warmSymbols: [WARM],
    ...common,
  };
  const plainPlan: DeliveryPlan = {
    scenario: 'inbox-plain',
    subscribers: plainSubscribers,
    filterOf: () => null,
    matches: () => true,
    warmSymbols: [symbols[0]!],
    ...common,
  };
  // Every subscription gets a warm-up: the symbol filters through WARM (their first list has
  // it), the tier filters through a CRITICAL one of their tier.
  const mirrorPlan: DeliveryPlan = {
    scenario: 'inbox-mirror',
    subscribers: mirror.length,
    filterOf: () => null,
    subscriberSpec: (m) => {
      const { user, filter } = mirror[m]!;
      return { query: SUBSCRIPTION, variables: { filter }, token: tokens[user]!, eventIdOf: plainEventIdOf, socket: user };
    },
    matches: (m, i) => mirrorRecipients[i]?.has(m) ?? false,
    warmSymbols: [WARM],
    warmTiers: TIER_HINTS,
    ...common,
  };

  const mine: DeliveryRun[] = [];
  const mirrored: DeliveryRun[] = [];
  const plain: DeliveryRun[] = [];
  const replayMs: number[] = [];
  const target = ctx.targets.patternwire;
  for (let run = 1; run <= ctx.runs; run++) {
    // Each plan first, second and third in turn: whatever a position costs (the previous plan's
    // garbage, the replay's rows) falls on each alike.
    const plans = ['myAlerts', 'mirror', 'plain'] as const;
    const order = plans.map((_, k) => plans[(k + run - 1) % plans.length]!);
    for (const kind of order) {
      // Every run measures live alerts: what earlier runs delivered counts as read, so no
      // subscription opens with a replay of them (141,000 frames, and a heap grown by them).
      if (kind === 'myAlerts') {
        await database.db
          .update(users)
          .set({ lastAcknowledgedId: sql`(select coalesce(max(${patternDetections.id}), 0) from ${patternDetections})` })
          .where(inArray(users.id, userIds));
      }
      const r = await runDelivery(ctx, target, { myAlerts: myAlertsPlan, mirror: mirrorPlan, plain: plainPlan }[kind], run);
      ({ myAlerts: mine, mirror: mirrored, plain })[kind].push(r);
      ctx.log(
        `  inbox run ${run} ${kind.padEnd(8)} ${r.subscribers} subscribers, delivered ${r.delivered}/${r.expected}, lost ${r.lost}, dup ${r.duplicated}, ` +
          `unexpected ${r.unexpected}, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, CPU ${r.cpuTotal} s` +
          (r.stages
            ? `; stages p50/p99: ingest ${r.stages.ingest.p50}/${r.stages.ingest.p99}, queue+batch ${r.stages.queueAndBatch.p50}/${r.stages.queueAndBatch.p99}, txn→client ${r.stages.commitToClient.p50}/${r.stages.commitToClient.p99} ms`
            : '') +
          `; load ${r.loadAverage1m}` +
          (r.errors.length ? `, errors: ${r.errors.join('; ')}` : ''),
      );
    }
    replayMs.push(await measureReplay(ctx, database, o.replay, run));
    ctx.log(`  inbox run ${run} replay of ${o.replay} missed alerts: ${replayMs.at(-1)} ms`);
  }

  const cpuPerDetection = (r: DeliveryRun) => (r.cpuTotal === null ? null : (r.cpuTotal * 1000) / r.published);
  const toRow = (r: DeliveryRun) => ({ ...flatten(r), subscribers: r.subscribers, cpuMsPerDetection: cpuPerDetection(r) });
  const ratioAtMost =
    (max: number) =>
    (pw: number | null, base: number | null): boolean =>
      pw !== null && base !== null && pw <= max * base;
  const defs: MetricDef[] = [
    { key: 'subscribers', label: 'subscriptions (myAlerts: one per user; the mirror: one or two per user)', unit: '' },
    { key: 'expected', label: 'deliveries expected', unit: '' },
    { key: 'delivered', label: 'delivered', unit: '' },
    ...LOSS.filter((d) => d.key !== 'notStored'),
    { key: 'p50', label: 'latency p50 (publish → client)', unit: 'ms' },
    { key: 'p95', label: 'latency p95', unit: 'ms' },
    { key: 'p99', label: 'latency p99', unit: 'ms', target: '≤ 1.5× plain patternAlert', check: ratioAtMost(1.5) },
    { key: 'max', label: 'latency max', unit: 'ms' },
    { key: 'cpuMsPerDetection', label: 'CPU of the system per detection published', unit: 'ms' },
  ];
  const aggregated = aggregateRuns(defs, { patternwire: mine.map(toRow), baseline: mirrored.map(toRow) });
  const plainDefs: MetricDef[] = (['p50', 'p99', 'cpuMsPerDetection'] as const).map((key) => ({
    key,
    label: `plain patternAlert to ${plainSubscribers} unfiltered sockets (the same frames a second, no bursts): ${defs.find((d) => d.key === key)!.label}`,
    unit: defs.find((d) => d.key === key)!.unit,
    pwOnly: true,
  }));
  const plainAgg = aggregateRuns(plainDefs, { patternwire: plain.map(toRow), baseline: [] });
  const replayDefs: MetricDef[] = [
    {
      key: 'replayMs',
      label: `myAlerts replay of ${o.replay} missed alerts, subscribe → last received`,
      unit: 'ms',
      pwOnly: true,
    },
  ];
  const replayAgg = aggregateRuns(replayDefs, {
    patternwire: replayMs.map((ms) => ({ replayMs: ms })),
    baseline: [],
  });
  return {
    scenario: 'inbox',
    params: {
      ...o,
      deliveriesPerDetection: round(perEvent, 2),
      mirrorSubscriptions: mirror.length,
      mirrorOverlaps: overlaps,
      plainSubscribers,
    },
    runs: [...mine, ...mirrored, ...plain].map((r) => ({ ...r, sortedLatencies: undefined })) as unknown as Record<
      string,
      unknown
    >[],
    aggregated,
    rows: [
      ...rowsFor('inbox', defs, aggregated, ctx.runs),
      ...rowsFor('inbox', plainDefs, plainAgg, ctx.runs),
      ...rowsFor('inbox', replayDefs, replayAgg, ctx.runs),
    ],
    notes: [
      `myAlerts: ${o.users} users with 10 watchlists each (5 of 3 symbols, 5 of one tier at HIGH and confidence ≥ 0.97–0.99) and one user with 50 × 500 symbols, one subscription each`,
      `baseline column: Patternwire's plain patternAlert fan-out in the same run to the same users, ${mirror.length} subscriptions filtered to what their watchlists match (the same alerts in the same bursts, ${overlaps} deliveries more where both of a user's filters match)`,
      `unfiltered rows: plain patternAlert to ${plainSubscribers} unfiltered subscribers, as many as deliveries per detection`,
      `${o.rate} detections/s for ${o.seconds} s; symbols round-robin over 2,000, tiers in turn, confidence 0.50–0.99`,
      `${ctx.pw.wsUrls.length} API process(es) (--apis); subscribers connect to them in turn`,
    ],
  };
}

/** A new user who missed `n` alerts subscribes: milliseconds until the last of them arrived. */
async function measureReplay(
  ctx: BenchContext,
  database: Awaited<ReturnType<typeof createDatabase>>,
  n: number,
  run: number,
): Promise<number> {
  const user = (await createUser(database.db, `inbox-${ctx.env.id}-replay-${run}`, 'READER'))!;
  const { token, hash } = generateToken();
  await insertToken(database.db, { userId: user.id, name: 'bench', hash, expiresAt: null });
  await database.db.insert(watchlists).values({ userId: user.id, name: 'missed', filter: { ...none, symbols: [REPLAY_SYMBOL] } });
  const prefix = `${ctx.env.id}-replay-${run}-`;
  const startId = await ctx.pw.maxId();
  const pipeline = ctx.publisher.redis.pipeline();
  for (let i = 0; i < n; i++) {
    pipeline.publish(
      ctx.env.patternsChannel,
      JSON.stringify({
        event_id: `${prefix}${i}`,
        symbol: REPLAY_SYMBOL,
        pattern: 'Doji',
        confidence: 0.6,
        timestamp: Date.now() / 1000,
      }),
    );
  }
  await pipeline.exec();
  const deadline = Date.now() + 60_000;
  while ((await ctx.pw.storedCount(startId, prefix)) < n) {
    if (Date.now() > deadline) throw new Error(`replay: ${n} detections not stored within 60 s`);
    await sleep(100);
  }
  if (!(await ctx.pw.drain(15_000))) throw new Error('replay: the pipeline did not drain');

  const client = createClient({
    url: ctx.targets.patternwire.wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${token}` },
  });
  try {
    // Connected first, so the time is the subscription's, not the handshake's.
    await new Promise<void>((resolve, reject) => {
      client.on('connected', () => resolve());
      client.on('error', reject);
    });
    const started = performance.now();
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replay: ${received} of ${n} within 60 s`)), 60_000);
      client.subscribe(
        { query: ALERT_QUERY },
        {
          next: (r) => {
            if (r.errors?.length) reject(new Error(r.errors[0]!.message));
            else if (++received === n) {
              clearTimeout(timer);
              resolve();
            }
          },
          error: reject,
          complete: () => undefined,
        },
      );
    });
    return round(performance.now() - started, 1)!;
  } finally {
    await client.dispose();
  }
}
