/**
 * CPU per detection of the live hub's dispatch alone, in one process: `SUBS` patternAlert
 * subscribers fed `EVENTS` detections, in two shapes: each subscriber filtered to one of
 * `SYMBOLS` symbols (the `filtered` scenario's), and each to one of the three tiers at HIGH and
 * above (the tier lists of the `inbox` scenario's mirror). Alternates subscribers filed where
 * the resolvers file them (`detectionRoutes`) with the same subscribers unrouted (every
 * detection offered to every predicate, as before routing), and prints the medians.
 *
 *   npx tsx bench/hub-cpu.ts [runs]
 */
import { createLiveHub, detectionRoutes } from '../src/api/live-hub.js';
import { compileFilter, type PatternFilter } from '../src/domain/pattern-filter.js';
import { TIERS } from '../src/schema/events.js';
import { compareAlternating, memoryPubSub } from './lib/in-process.js';
import { storedDetection } from '../test/utils/detections.js';

const SUBS = 1_000;
const SYMBOLS = 100;
const EVENTS = 5_000;
const RUNS = Number(process.argv[2] ?? 6);

const symbolOf = (i: number) => `S${i % SYMBOLS}`;
const detections = Array.from({ length: EVENTS }, (_, n) =>
  storedDetection(n + 1, { symbol: symbolOf(n), tier: TIERS[n % TIERS.length]!, priority: n % 10 ? 'MEDIUM' : 'HIGH' }),
);
const shapes: Record<string, (s: number) => PatternFilter> = {
  symbol: (s) => ({ symbols: [symbolOf(s)] }),
  tier: (s) => ({ tiers: [TIERS[s % TIERS.length]!], minPriority: 'HIGH' }),
};

/** CPU nanoseconds per detection dispatched. */
async function run(filterOf: (s: number) => PatternFilter, routed: boolean): Promise<number> {
  const pubsub = memoryPubSub();
  const hub = await createLiveHub({ pubsub, queueLimit: EVENTS });
  for (let s = 0; s < SUBS; s++) {
    const compiled = compileFilter(filterOf(s));
    hub.stream('patternAlert', (d) => compiled.matches(d), undefined, routed ? detectionRoutes(compiled) : null);
  }
  const start = process.cpuUsage();
  for (const d of detections) pubsub.emit('patternAlert', d);
  const cpu = process.cpuUsage(start);
  hub.close();
  return ((cpu.user + cpu.system) * 1000) / EVENTS;
}

for (const [shape, filterOf] of Object.entries(shapes)) {
  console.log(`${SUBS} subscribers, each of one ${shape}; ${EVENTS} detections per run:`);
  await compareAlternating({ unrouted: () => run(filterOf, false), routed: () => run(filterOf, true) }, RUNS, 'detection', '  ');
}
console.log(
  `(a detection is queued for ${SUBS / SYMBOLS} symbol subscribers, and for one in ten for the ${Math.round(SUBS / 3)} of its tier)`,
);
