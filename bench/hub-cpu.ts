/**
 * CPU per detection of the live hub's dispatch alone, in one process: `SUBS` patternAlert
 * subscribers each filtered to one of `SYMBOLS` symbols (the `filtered` scenario's shape), fed
 * `EVENTS` detections round-robin over the symbols. Alternates subscribers filed under their
 * symbol (`routes`, as the resolvers open them) with the same subscribers unrouted (every
 * detection offered to every predicate, as before routing), and prints the medians.
 *
 *   npx tsx bench/hub-cpu.ts [runs]
 */
import { createLiveHub } from '../src/api/live-hub.js';
import { compileFilter } from '../src/domain/pattern-filter.js';
import { compareAlternating, memoryPubSub } from './lib/in-process.js';
import { storedDetection } from '../test/utils/detections.js';

const SUBS = 1_000;
const SYMBOLS = 100;
const EVENTS = 5_000;
const RUNS = Number(process.argv[2] ?? 6);

const symbolOf = (i: number) => `S${i % SYMBOLS}`;
const detections = Array.from({ length: EVENTS }, (_, n) => storedDetection(n + 1, { symbol: symbolOf(n) }));

/** CPU nanoseconds per detection dispatched. */
async function run(routed: boolean): Promise<number> {
  const pubsub = memoryPubSub();
  const hub = await createLiveHub({ pubsub, queueLimit: EVENTS });
  for (let s = 0; s < SUBS; s++) {
    const compiled = compileFilter({ symbols: [symbolOf(s)] });
    hub.stream('patternAlert', (d) => compiled.matches(d), undefined, routed ? compiled.symbols : null);
  }
  const start = process.cpuUsage();
  for (const d of detections) pubsub.emit('patternAlert', d);
  const cpu = process.cpuUsage(start);
  hub.close();
  return ((cpu.user + cpu.system) * 1000) / EVENTS;
}

await compareAlternating({ unrouted: () => run(false), routed: () => run(true) }, RUNS, 'detection');
console.log(
  `${SUBS} subscribers, each of one of ${SYMBOLS} symbols; ${EVENTS} detections per run, each queued for its ${SUBS / SYMBOLS}`,
);
