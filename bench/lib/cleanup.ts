/**
 * Teardown that runs whatever happens: normal end, an error, Ctrl-C (SIGINT), SIGTERM, SIGHUP.
 * Steps run last-added first, each on its own (one failing does not skip the rest).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type Step = () => unknown;

/** What the janitor can undo without the bench: a process, a database, Redis keys. */
export type Resource = { pid: number } | { database: string; adminUrl: string } | { redisPattern: string; redisUrl: string };

export interface Cleanup {
  add(label: string, step: Step): void;
  /** Also tells the janitor, which undoes it should this process die before `run()` finishes. */
  register(resource: Resource): void;
  /** Runs every step once; later calls wait for the first. */
  run(): Promise<void>;
  /** True once SIGINT/SIGTERM/SIGHUP arrived. */
  interrupted(): boolean;
}

/**
 * A detached janitor (bench/janitor.ts) holds a list of what was created and cleans it up if
 * this process dies first: `tsx` relays Ctrl-C to us and, if we do not confirm within 30 ms
 * (easily missed on a busy machine), kills us, up to SIGKILL, in the middle of our cleanup.
 */
function startJanitor(): ChildProcess | null {
  try {
    const janitor = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../janitor.ts', import.meta.url))], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      detached: true,
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    janitor.unref();
    janitor.on('error', () => undefined);
    (janitor.stdin as unknown as { unref?: () => void }).unref?.();
    janitor.stdin.on('error', () => undefined);
    return janitor;
  } catch {
    return null;
  }
}

export function createCleanup(log: (message: string) => void = (m) => console.error(m)): Cleanup {
  const steps: { label: string; step: Step }[] = [];
  let running: Promise<void> | null = null;
  const janitor = startJanitor();
  const tell = (line: object) => {
    if (janitor?.stdin?.writable) janitor.stdin.write(`${JSON.stringify(line)}\n`);
  };

  const cleanup: Cleanup = {
    add(label, step) {
      steps.push({ label, step });
    },
    register(resource) {
      tell(resource);
    },
    interrupted: () => signalledAt > 0,
    run() {
      running ??= (async () => {
        while (steps.length) {
          const { label, step } = steps.pop()!;
          try {
            await step();
          } catch (err) {
            log(`cleanup: ${label} failed: ${(err as Error).message}`);
          }
        }
        // Everything is undone: the janitor may go.
        tell({ done: true });
        janitor?.stdin?.end();
      })();
      return running;
    },
  };

  let signalledAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // One Ctrl-C arrives twice (the terminal's, then tsx's relay): repeats soon after are the same one.
    if (signalledAt) {
      if (Date.now() - signalledAt < 5_000) return;
      log(`${signal} again: exiting now; the janitor finishes the cleanup`);
      process.exit(130);
    }
    signalledAt = Date.now();
    log(`\n${signal}: stopping the benchmark and cleaning up (children, database, Redis keys)…`);
    void cleanup.run().finally(() => process.exit(130));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  return cleanup;
}
