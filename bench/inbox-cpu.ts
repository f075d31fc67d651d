/**
 * CPU per delivered `myAlerts` alert on the API's path from a detection to its executed alerts,
 * in one process and without sockets: the real schema, resolvers, shared execution and
 * `WatchlistIndex`; `USERS` users with the benchmark's watchlists (bench/scenarios/inbox.ts),
 * all of one tier, so that each detection of confidence ≥ 0.97 matches two to five of each
 * user's tier lists, as a third of the benchmark's users at once. Each user is handed what the
 * index matched, as the alert router hands it, and pulls the next as graphql-ws does. Alternates
 * the execution with the Alert split into its shared and personal parts (`ALERT_PERSONAL_FIELDS`)
 * and without (each alert executed in full, compiled), and prints the medians for two
 * selections: apart from the noise of a shared machine that the end-to-end benchmark
 * (`npm run bench`) cannot see through.
 *
 *   npx tsx bench/inbox-cpu.ts [runs]
 */
import { parse } from 'graphql';
import { createSchema, createYoga } from 'graphql-yoga';
import type { Alert } from '../src/api/alert-router.js';
import { createEventStream, type EventStream } from '../src/api/event-stream.js';
import { ALERT_PERSONAL_FIELDS } from '../src/api/inbox.js';
import { resolvers } from '../src/api/resolvers.js';
import { useSharedSubscriptionExecution } from '../src/api/shared-execution.js';
import type { WatchlistRow } from '../src/db/watchlists.js';
import { WatchlistIndex } from '../src/domain/watchlist-index.js';
import { typeDefs } from '../src/schema/graphql.js';
import { makeSymbols } from './lib/load.js';
import { compareAlternating, cpuPerDelivery, openSubscriptions } from './lib/in-process.js';
import { typicalWatchlists } from './scenarios/inbox.js';
import { storedDetection } from '../test/utils/detections.js';

/** A detection of confidence ≥ 0.97 reaches the tier lists of a third of the bench's users at once. */
const USERS = 333;
const EVENTS = 300;
const RUNS = Number(process.argv[2] ?? 6);

const SELECTIONS = {
  'the bench’s (eventId, watchlists’ id and name)':
    'subscription { myAlerts { detection { eventId } watchlists { id name } replayed } }',
  'the README’s (a detection’s fields, watchlists’ id and name)':
    'subscription { myAlerts { detection { id eventId symbol pattern confidence tier priority detectedAt } watchlists { id name } replayed } }',
};

// Users 0, 3, 6, …: the benchmark's users of one tier (DAILY).
const now = new Date();
const symbols = makeSymbols(2000);
const watchlistsOf = (u: number): WatchlistRow[] =>
  typicalWatchlists(3 * u, symbols).map((filter, k) => ({
    id: u * 10 + k + 1,
    userId: u + 1,
    name: `list ${k}`,
    filter,
    createdAt: now,
    updatedAt: now,
  }));
/** 0.975, 0.985, 0.995 in turn: two, three or all five of each user's tier lists. */
const confidenceOf = (n: number) => 0.975 + (n % 3) / 100;

/** CPU nanoseconds per delivery. */
async function run(query: string, split: boolean): Promise<number> {
  const streams: EventStream<Alert>[] = [];
  const schema = createSchema({
    typeDefs,
    resolvers: {
      ...resolvers,
      Subscription: {
        ...resolvers.Subscription,
        // The live part alone: what the alert router pushes, without its matching or a database.
        myAlerts: {
          subscribe: () => {
            const stream = createEventStream<Alert>({ limit: 100_000, onClose: () => undefined });
            streams.push(stream);
            return stream;
          },
          resolve: (alert: Alert) => alert,
        },
      },
    },
  });
  const yoga = createYoga({
    schema,
    plugins: [useSharedSubscriptionExecution(undefined, split ? [ALERT_PERSONAL_FIELDS] : [])],
  });
  const iterators = await openSubscriptions(yoga, parse(query), USERS);
  const index = new WatchlistIndex<number, WatchlistRow>();
  for (let u = 0; u < USERS; u++) index.set(u, watchlistsOf(u));
  return cpuPerDelivery(iterators, EVENTS, (n) => {
    const detection = storedDetection(n, { confidence: confidenceOf(n), priority: 'CRITICAL' });
    const matched = index.match(detection);
    if (matched.length !== USERS) throw new Error(`detection ${n} matched ${matched.length} users, not ${USERS}`);
    for (const [u, watchlists] of matched) streams[u]!.push({ detection, watchlists, replayed: false });
  });
}

for (const [label, query] of Object.entries(SELECTIONS)) {
  console.log(`${label}:`);
  await compareAlternating({ 'in full': () => run(query, false), split: () => run(query, true) }, RUNS, 'delivery', '  ');
}
console.log(`${USERS} users × ${EVENTS} detections per run, matched through the index, each user's alert its own`);
