/** Child processes of the benchmark: Patternwire's roles and the baseline relay. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cleanup } from './cleanup.js';
import { sleep } from './util.js';

/** The package root; children run from source there with tsx. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** The last 64 KiB of stdout and stderr, interleaved. */
  output(): string;
  alive(): boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_LIMIT = 64 * 1024;

/**
 * `node [nodeArgs] --import tsx <args>` from the project root with exactly `env`; stopped by the
 * cleanup (SIGTERM, then SIGKILL after `stopGraceMs`).
 */
export function spawnNode(
  cleanup: Cleanup,
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { nodeArgs?: string[]; stopGraceMs?: number } = {},
): Child {
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', ...args], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > OUTPUT_LIMIT * 2) out = out.slice(-OUTPUT_LIMIT);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('close', (code, signal) => resolve({ code, signal }));
  });
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const child: Child = {
    name,
    proc,
    pid: proc.pid ?? -1,
    output: () => out.slice(-OUTPUT_LIMIT),
    alive,
    exited,
    async stop(graceMs = 5_000) {
      if (!alive()) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => alive() && proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  cleanup.add(`stop ${name} (pid ${child.pid})`, () => child.stop(opts.stopGraceMs ?? 3_000));
  if (child.pid > 0) cleanup.register({ pid: child.pid });
  return child;
}

/** Polls `check` until true; fails at once (with its output) if one of `children` exits meanwhile. */
export async function waitReady(
  children: Child[],
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = children.find((c) => !c.alive());
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}; its output:\n${dead.output()}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${what} not ready within ${timeoutMs} ms; output:\n${children.map((c) => `--- ${c.name}\n${c.output()}`).join('\n')}`,
      );
    }
    await sleep(100);
  }
}

/** Resident memory of a process in MB (VmRSS), and its peak (VmHWM). */
export function residentMb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux
/** CPU seconds (user + system) a process has used so far, or null once it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}
