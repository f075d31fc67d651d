/**
 * `npm run bench [-- --quick] [--scenarios …] [--runs N] [size flags]`
 *
 * Starts everything it measures (a fresh database, Patternwire's migrate/api/worker/ingest and
 * the baseline relay as child processes, private prefixes and channels), runs the scenarios,
 * prints the table and writes bench/results/latest.json and latest.svg. Cleans up after itself
 * on success, failure and Ctrl-C. See bench/README.md.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createCleanup } from './lib/cleanup.js';
import { createBenchEnv } from './lib/env.js';
import { Publisher } from './lib/load.js';
import { parseOptions, SCENARIOS, usage, UsageError, type Options, type ScenarioName } from './lib/options.js';
import { startPatternwire } from './lib/patternwire.js';
import { spawnNode, waitReady } from './lib/processes.js';
import { freePort } from '../test/utils/resources.js';
import { summarizeProfiles } from './lib/profiles.js';
import { cdfSvg, formatTable, machineFacts, pooled } from './lib/report.js';
import { burst, fanOut, filtered, throughput, type DeliveryOutcome } from './scenarios/delivery.js';
import { history } from './scenarios/history.js';
import { memory } from './scenarios/memory.js';
import { inbox } from './scenarios/inbox.js';
import type { BenchContext, Row, ScenarioReport, System, Target } from './scenarios/types.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const PROFILE_DIR = `${RESULTS_DIR}profiles`;
const started = Date.now();
const log = (message: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}`);

async function versions(redisUrl: string, databaseUrl: string): Promise<Record<string, string>> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  const db = new pg.Client({ connectionString: databaseUrl });
  try {
    await db.connect();
    const info = await redis.info('server');
    const pgVersion = (await db.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?';
    return { redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?', postgresql: pgVersion };
  } finally {
    redis.disconnect();
    await db.end();
  }
}

async function main(options: Options): Promise<number> {
  const cleanup = createCleanup();
  const n = options.n;
  if (options.cpuProf) {
    rmSync(PROFILE_DIR, { recursive: true, force: true });
    mkdirSync(PROFILE_DIR, { recursive: true });
  }
  const machine = machineFacts();
  log(`Patternwire benchmark (${options.quick ? 'quick' : 'full'}): ${options.scenarios.join(', ')}; ${n.runs} run(s) each`);
  log(
    `machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGb} GB RAM, node ${machine.node}, load average ${machine.loadAverage.join(' ')}`,
  );

  const reports: ScenarioReport[] = [];
  const failures: { scenario: string; error: string }[] = [];
  let fanOutLatencies: DeliveryOutcome['latencies'] | null = null;
  let fanOutParams: Record<string, unknown> | null = null;
  let serviceVersions: Record<string, string> = {};
  let startupMs = 0;
  try {
    const env = await createBenchEnv(cleanup);
    serviceVersions = await versions(env.redisUrl, env.databaseUrl);
    log(
      `services: Redis ${serviceVersions['redis']}, PostgreSQL ${serviceVersions['postgresql']}; database ${env.databaseName}, prefix ${env.queuePrefix}`,
    );

    // Patternwire (migrate, then api/worker/ingest) and the baseline relay, side by side.
    const spawnAt = performance.now();
    const baselinePort = await freePort();
    const relay = spawnNode(cleanup, 'baseline relay', ['bench/baseline-relay.ts'], {
      ...process.env,
      REDIS_URL: env.redisUrl,
      BASELINE_CHANNEL: env.baselineChannel,
      PORT: String(baselinePort),
    });
    const baselineHttp = `http://127.0.0.1:${baselinePort}`;
    const [pw] = await Promise.all([
      startPatternwire(cleanup, env, log, {
        spareApi: options.scenarios.includes('memory'),
        cpuProfDir: options.cpuProf ? PROFILE_DIR : null,
        apis: n.apis,
      }),
      waitReady([relay], async () => (await fetch(`${baselineHttp}/healthz`)).status === 200, 60_000, 'baseline relay'),
    ]);
    startupMs = performance.now() - spawnAt;
    log(
      `started: Patternwire api ${pw.httpUrl} (pid ${pw.api.pid}${pw.wsUrls.length > 1 ? `, and ${pw.wsUrls.length - 1} more` : ''}), worker (pid ${pw.worker.pid}), ingest (pid ${pw.ingest.pid}); baseline relay ${baselineHttp} (pid ${relay.pid})`,
    );

    const publisher = new Publisher(env.redisUrl);
    cleanup.add('publisher connection', () => publisher.close());
    const targets: Record<System, Target> = {
      patternwire: {
        system: 'patternwire',
        wsUrl: pw.wsUrl,
        wsUrls: pw.wsUrls,
        channel: env.patternsChannel,
        pw,
        processes: () => pw.children(),
      },
      baseline: {
        system: 'baseline',
        wsUrl: `ws://127.0.0.1:${baselinePort}/graphql`,
        channel: env.baselineChannel,
        pw: null,
        processes: () => [relay],
        heard: async () => ((await (await fetch(`${baselineHttp}/stats`)).json()) as { received: number }).received,
      },
    };
    const ctx: BenchContext = { cleanup, env, publisher, targets, pw, runs: n.runs, log };

    const scenarios: Record<ScenarioName, () => Promise<ScenarioReport>> = {
      'fan-out': async () => {
        const o = await fanOut(ctx, {
          subscribers: n['fanout-subscribers'],
          rate: n['fanout-rate'],
          seconds: n['fanout-seconds'],
          warmupSeconds: n['warmup-seconds'],
        });
        fanOutLatencies = o.latencies;
        fanOutParams = o.report.params;
        return o.report;
      },
      filtered: async () =>
        (
          await filtered(ctx, {
            subscribers: n['filtered-subscribers'],
            symbols: n['filtered-symbols'],
            rate: n['filtered-rate'],
            seconds: n['filtered-seconds'],
            warmupSeconds: n['warmup-seconds'],
          })
        ).report,
      throughput: async () =>
        (
          await throughput(ctx, {
            seconds: n['throughput-seconds'],
            rate: n['throughput-rate'],
            batch: n['throughput-batch'],
            drainSeconds: n['throughput-drain-seconds'],
            boundedDepth: n['throughput-bounded-depth'],
            target: n['throughput-target'],
            via: options.throughputVia,
          })
        ).report,
      burst: async () =>
        (
          await burst(ctx, {
            events: n['burst-events'],
            subscribers: n['burst-subscribers'],
            timeoutSeconds: n['burst-timeout-seconds'],
            withinSeconds: n['burst-within-seconds'],
          })
        ).report,
      history: () =>
        history(ctx, {
          rows: n['history-rows'],
          queries: n['history-queries'],
          symbols: n['history-symbols'],
          days: n['history-days'],
          warmupQueries: n['history-warmup'],
        }),
      memory: () => memory(ctx, { subscribers: n['memory-subscribers'], limitMb: n['memory-limit-mb'] }),
      inbox: () =>
        inbox(ctx, {
          users: n['inbox-users'],
          rate: n['inbox-rate'],
          seconds: n['inbox-seconds'],
          replay: n['inbox-replay'],
          warmupSeconds: n['warmup-seconds'],
        }),
    };

    for (const name of options.scenarios) {
      log(`scenario ${name}`);
      try {
        reports.push(await scenarios[name]());
      } catch (err) {
        if (cleanup.interrupted()) break;
        const error = (err as Error).stack ?? String(err);
        failures.push({ scenario: name, error });
        log(`scenario ${name} FAILED: ${error}`);
      }
      if (cleanup.interrupted()) break;
      const dead = [...pw.children(), relay].filter((c) => !c.alive());
      if (dead.length) {
        const why = dead.map((c) => `${c.name} exited:\n${c.output()}`).join('\n');
        failures.push({ scenario: name, error: why });
        log(`a child process died during ${name}; stopping here.\n${why}`);
        break;
      }
    }
  } catch (err) {
    if (!cleanup.interrupted()) {
      failures.push({ scenario: 'setup', error: (err as Error).stack ?? String(err) });
      log(`setup FAILED: ${(err as Error).stack ?? String(err)}`);
    }
  } finally {
    if (!cleanup.interrupted()) log('cleaning up: children, database, Redis keys');
    await cleanup.run();
  }
  // Interrupted: the signal handler exits; the previous results stay as they were.
  if (cleanup.interrupted()) return 130;

  // Results.
  const rows: Row[] = reports.flatMap((r) => r.rows);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const latencies = fanOutLatencies as DeliveryOutcome['latencies'] | null;
  const curves = latencies
    ? [
        { label: 'Patternwire', color: '#1f5fbf', sorted: pooled(latencies.patternwire) },
        { label: 'baseline relay (Redis SUBSCRIBE → graphql-ws)', color: '#e07b00', sorted: pooled(latencies.baseline) },
      ]
    : null;
  const result = {
    benchmark: 'patternwire',
    mode: options.quick ? 'quick' : 'full',
    startedAt: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    options,
    machine: { ...machine, loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100), services: serviceVersions },
    rows,
    scenarios: reports,
    fanOutCdf: curves
      ? Object.fromEntries(
          curves.map((c) => [
            c.label.startsWith('Patternwire') ? 'patternwire' : 'baseline',
            { count: c.sorted.length, points: cdfPointsRounded(c.sorted) },
          ]),
        )
      : null,
    failures,
  };
  // A full run is also kept as full.*, so a later --quick (or partial) run does not replace it.
  const keepAsFull = !options.quick && failures.length === 0 && options.scenarios.length === SCENARIOS.length;
  const write = (name: string, text: string) => {
    writeFileSync(`${RESULTS_DIR}latest.${name}`, text);
    if (keepAsFull) writeFileSync(`${RESULTS_DIR}full.${name}`, text);
  };
  write('json', JSON.stringify(result, null, 2) + '\n');
  if (curves && fanOutParams) {
    const p = fanOutParams as { subscribers: number; rate: number; seconds: number };
    const subtitle =
      `${p.subscribers} subscribers, no filter, ${p.rate} events/s for ${p.seconds} s, ${n.runs} run(s) pooled · ` +
      `${machine.cpuModel}, ${machine.cores} cores shared by everything · ${machine.date.slice(0, 10)}`;
    write(
      'svg',
      cdfSvg(curves, 'fan-out: delivery latency CDF, Patternwire vs baseline', subtitle, [
        { ms: 10, label: 'p50 target 10 ms' },
        { ms: 30, label: 'p99 target 30 ms' },
      ]),
    );
  }

  console.log('');
  console.log(formatTable(rows));
  console.log('');
  for (const r of reports) for (const note of r.notes) console.log(`${r.scenario}: ${note}`);
  const unmet = rows.filter((r) => r.met === false);
  console.log(
    `\n${rows.filter((r) => r.met === true).length} targets met, ${unmet.length} not met${failures.length ? `, ${failures.length} failure(s): ${failures.map((f) => f.scenario).join(', ')}` : ''}.`,
  );
  if (options.cpuProf) {
    console.log('');
    // Start-up (module loading under tsx) would dominate: leave out the time the children took to get ready.
    console.log(summarizeProfiles(PROFILE_DIR, 15, startupMs + 1_000));
  }
  console.log(
    `Wrote ${RESULTS_DIR}latest.json${curves ? ` and latest.svg` : ' (no fan-out run, so no chart)'}${keepAsFull ? ', and the same as full.json / full.svg' : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
  );
  return failures.length ? 1 : 0;
}

function cdfPointsRounded(sorted: Float64Array): [number, number][] {
  const out: [number, number][] = [];
  const step = Math.max(1, Math.floor(sorted.length / 200));
  for (let i = 0; i < sorted.length; i += step)
    out.push([Math.round(sorted[i]! * 1000) / 1000, Math.round(((i + 1) / sorted.length) * 10000) / 10000]);
  if (sorted.length) out.push([Math.round(sorted[sorted.length - 1]! * 1000) / 1000, 1]);
  return out;
}

let options: Options | null;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(`${err.message}\n\n${usage()}`);
  process.exit(2);
}
if (!options) {
  console.log(usage());
  process.exit(0);
}
main(options).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
