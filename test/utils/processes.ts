import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Disposers } from './env.js';

/** The package root: the built CLI runs there (`dist/cli.js`, kept current by test/global-setup.ts). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from the signal (or the first `exit()` call) to the exit. */
  ms: number;
}

export interface PatternwireProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far, interleaved as it arrived. */
  output(): string;
  /** What was written to stdout alone. */
  stdout(): string;
  /** Resolves with the first line matching `regex` (already printed or still to come); rejects on timeout or exit. */
  waitForLine(regex: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited; `ms` counts from the first call of `exit()` (0 if it had already exited). */
  exit(): Promise<ExitInfo>;
  /** Sends `signal` and resolves on exit; `ms` counts from the signal. */
  signal(signal: NodeJS.Signals): Promise<ExitInfo>;
}

/**
 * Runs `patternwire <command>` (or `patternwire ...args`) as a child process with exactly `env`:
 * the built CLI, as the Procfile runs it. The disposer SIGKILLs it if it is still alive.
 */
export function spawnPatternwire(
  disposers: Disposers,
  args: string | readonly string[],
  env: NodeJS.ProcessEnv,
): PatternwireProcess {
  const argv = typeof args === 'string' ? [args] : [...args];
  const command = argv.join(' ');
  const child = spawn(process.execPath, ['dist/cli.js', ...argv], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  let listeners: (() => void)[] = [];
  const notify = () => {
    for (const l of listeners) l();
  };
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    notify();
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    onData(chunk);
  });
  child.stderr.on('data', onData);

  let exitedAt: number | null = null;
  let exitStart: number | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close' fires after the output streams are drained, so output() is complete by then.
    child.once('close', (code, signal) => {
      exitedAt = Date.now();
      resolve({ code, signal });
      notify();
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;

  disposers.add(async () => {
    if (!alive()) return;
    child.kill('SIGKILL');
    await exited;
  });

  return {
    child,
    output: () => out,
    stdout: () => stdout,
    waitForLine(regex, timeoutMs = 30_000) {
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = out.split('\n').find((l) => regex.test(l));
          if (line !== undefined) return finish(() => resolve(line));
          if (exitedAt !== null) {
            return finish(() => reject(new Error(`patternwire ${command} exited before printing ${regex}; output:\n${out}`)));
          }
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              reject(new Error(`patternwire ${command}: no line matching ${regex} within ${timeoutMs} ms; output:\n${out}`)),
            ),
          timeoutMs,
        );
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          listeners = listeners.filter((l) => l !== check);
          settle();
        };
        listeners.push(check);
        check();
      });
    },
    async exit() {
      const start = (exitStart ??= Date.now());
      const { code, signal } = await exited;
      return { code, signal, ms: Math.max(0, exitedAt! - start) };
    },
    signal(signal) {
      const start = Date.now();
      exitStart = start;
      child.kill(signal);
      return exited.then(({ code, signal: sig }) => ({ code, signal: sig, ms: exitedAt! - start }));
    },
  };
}

/** The environment a child gets: this process's, the test env's, then overrides; `undefined` deletes. */
export function childEnv(...layers: Record<string, string | undefined>[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
  }
  return env;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  /** stdout and stderr interleaved. */
  output: string;
}

/** Runs a command that ends on its own (`users list`, `tokens create …`) and resolves when it has. */
export async function runPatternwire(
  disposers: Disposers,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<CommandResult> {
  const p = spawnPatternwire(disposers, args, env);
  const { code } = await p.exit();
  return { code, stdout: p.stdout(), output: p.output() };
}
