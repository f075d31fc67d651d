/**
 * Command-line flags. `--quick` only changes the default numbers; every size is also a flag of
 * its own, and an explicit flag wins over both sets of defaults.
 */
export const SCENARIOS = ['fan-out', 'filtered', 'throughput', 'burst', 'history', 'memory', 'inbox'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

interface NumberFlag {
  full: number;
  quick: number;
  help: string;
}

export const NUMBER_FLAGS = {
  runs: { full: 3, quick: 1, help: 'runs per scenario (and per system); the table shows medians' },
  apis: {
    full: 1,
    quick: 1,
    help: 'API processes of Patternwire (as Procfile web=N); delivery scenarios spread their subscribers over them in turn',
  },
  'warmup-seconds': {
    full: 2,
    quick: 0.5,
    help: 'fan-out, filtered, inbox: unmeasured load at the scenario rate before each run',
  },
  'fanout-subscribers': { full: 50, quick: 20, help: 'fan-out: subscribers, no filter' },
  'fanout-rate': { full: 200, quick: 100, help: 'fan-out: events per second' },
  'fanout-seconds': { full: 10, quick: 2, help: 'fan-out: seconds of publishing' },
  'filtered-subscribers': { full: 1000, quick: 100, help: 'filtered: subscribers, each filtered to one symbol' },
  'filtered-symbols': { full: 100, quick: 20, help: 'filtered: distinct symbols (events round-robin over them)' },
  'filtered-rate': { full: 500, quick: 200, help: 'filtered: events per second' },
  'filtered-seconds': { full: 10, quick: 2, help: 'filtered: seconds of publishing' },
  'throughput-seconds': { full: 30, quick: 2, help: 'throughput: seconds of publishing' },
  'throughput-rate': { full: 0, quick: 0, help: 'throughput: events per second, 0 = as fast as the publisher can' },
  'throughput-batch': { full: 200, quick: 200, help: 'throughput: XADD / PUBLISH commands per pipeline' },
  'throughput-drain-seconds': { full: 60, quick: 10, help: 'throughput: longest wait for the backlog after publishing' },
  'throughput-target': { full: 5000, quick: 5000, help: 'throughput: target events/s (stored and delivered)' },
  'throughput-bounded-depth': {
    full: 200,
    quick: 200,
    help: 'throughput: largest queue depth (jobs) at the end that counts as bounded',
  },
  'burst-events': { full: 20000, quick: 2000, help: 'burst: events published at once' },
  'burst-subscribers': { full: 1, quick: 1, help: 'burst: subscribers, no filter' },
  'burst-timeout-seconds': { full: 60, quick: 15, help: 'burst: longest wait for everything' },
  'burst-within-seconds': { full: 10, quick: 10, help: 'burst: target for all stored and delivered' },
  'history-rows': { full: 1_000_000, quick: 50_000, help: 'history: detections bulk-loaded' },
  'history-queries': { full: 1000, quick: 100, help: 'history: requests per query kind per run' },
  'history-symbols': { full: 500, quick: 500, help: 'history: distinct symbols' },
  'history-days': { full: 30, quick: 30, help: 'history: detections spread over this many days' },
  'history-warmup': { full: 50, quick: 10, help: 'history: unmeasured requests per kind first' },
  'inbox-users': { full: 1000, quick: 100, help: 'inbox: users with 10 watchlists and one myAlerts subscription each' },
  'inbox-rate': { full: 500, quick: 200, help: 'inbox: detections per second' },
  'inbox-seconds': { full: 10, quick: 2, help: 'inbox: seconds of publishing' },
  'inbox-replay': { full: 1000, quick: 1000, help: 'inbox: missed alerts one user gets back on subscribing' },
  'memory-subscribers': { full: 5000, quick: 300, help: 'memory: idle subscribers on one API process' },
  'memory-limit-mb': { full: 400, quick: 400, help: 'memory: target resident size' },
} satisfies Record<string, NumberFlag>;

export type NumberFlagName = keyof typeof NUMBER_FLAGS;

export const THROUGHPUT_VIA = ['xadd', 'publish'] as const;
export type ThroughputVia = (typeof THROUGHPUT_VIA)[number];

export interface Options {
  quick: boolean;
  /** How the throughput publisher reaches Patternwire (the baseline relay always gets PUBLISH). */
  throughputVia: ThroughputVia;
  /** Run Patternwire's children under `node --cpu-prof`, profiles in bench/results/profiles/. */
  cpuProf: boolean;
  scenarios: ScenarioName[];
  n: Record<NumberFlagName, number>;
}

export function usage(): string {
  const lines = Object.entries(NUMBER_FLAGS).map(
    ([name, f]) => `  --${name.padEnd(26)} ${f.help} (full ${f.full}, quick ${f.quick})`,
  );
  return `usage: npm run bench -- [--quick] [--scenarios ${SCENARIOS.join(',')}] [--runs N] [size flags]

  --quick                      small sizes, 1 run per scenario: the whole run in under a minute
  --scenarios a,b              which scenarios, in this order (default: all)
  --throughput-via xadd|publish  throughput: Patternwire's input; xadd (default) is the stream,
                               which the ingest reads only while the queue has room; publish is
                               pub/sub, which nothing can slow down (the baseline always gets PUBLISH)
  --cpu-prof                   run Patternwire's processes under node --cpu-prof; profiles and a
                               summary (npx tsx bench/profile-summary.ts <dir>) in bench/results/profiles/
${lines.join('\n')}
  --help                       this text`;
}

export class UsageError extends Error {}

export function parseOptions(argv: string[]): Options | null {
  const values = new Map<string, string>();
  let quick = false;
  let cpuProf = false;
  let scenarios: ScenarioName[] = [...SCENARIOS];
  let throughputVia: ThroughputVia = 'xadd';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return null;
    if (arg === '--quick') {
      quick = true;
      continue;
    }
    if (arg === '--cpu-prof') {
      cpuProf = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new UsageError(`unexpected argument "${arg}"`);
    const name = m[1]!;
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    if (name === 'scenarios') {
      const list = value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = list.find((s) => !(SCENARIOS as readonly string[]).includes(s));
      if (bad !== undefined) throw new UsageError(`unknown scenario "${bad}"; known: ${SCENARIOS.join(', ')}`);
      scenarios = list as ScenarioName[];
      continue;
    }
    if (name === 'throughput-via') {
      if (!(THROUGHPUT_VIA as readonly string[]).includes(value))
        throw new UsageError(`--throughput-via must be one of ${THROUGHPUT_VIA.join(', ')}, got "${value}"`);
      throughputVia = value as ThroughputVia;
      continue;
    }
    if (!(name in NUMBER_FLAGS)) throw new UsageError(`unknown flag --${name}`);
    values.set(name, value);
  }
  const n = {} as Record<NumberFlagName, number>;
  for (const [name, f] of Object.entries(NUMBER_FLAGS) as [NumberFlagName, NumberFlag][]) {
    const raw = values.get(name);
    const v = raw === undefined ? (quick ? f.quick : f.full) : Number(raw);
    const mayBeZero = name === 'throughput-rate' || name === 'warmup-seconds';
    if (!Number.isFinite(v) || v < 0 || (!mayBeZero && v === 0))
      throw new UsageError(`--${name} must be a ${mayBeZero ? 'non-negative' : 'positive'} number, got "${raw}"`);
    n[name] = v;
  }
  return { quick, cpuProf, throughputVia, scenarios, n };
}
