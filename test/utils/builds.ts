/**
 * Builds the tests run against, rebuilt when a source is newer: `npm ci` builds both (`prepare`),
 * and after an edit a test never passes on an old build.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './processes.js';

/** The newest modification time of `file`, or of anything under it; -1 if it does not exist. */
export function newestMtime(file: string): number {
  let s;
  try {
    s = statSync(file);
  } catch {
    return -1;
  }
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(file).map((name) => newestMtime(path.join(file, name))));
}

/** Runs a build tool from node_modules/.bin in the project root; throws with its output if it fails. */
export function runBuild(tool: string, args: string[]): void {
  const result = spawnSync(path.join(PROJECT_ROOT, 'node_modules', '.bin', tool), args, {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
}

/**
 * The CLI the process tests start is the built one (`node dist/cli.js`, as the Procfile runs it):
 * rebuilt here when anything under src/ is newer than it. Starting the build rather than the
 * sources through tsx saves about a second per process.
 */
export function ensureServerBuild(): void {
  if (newestMtime(path.join(PROJECT_ROOT, 'dist', 'cli.js')) > newestMtime(path.join(PROJECT_ROOT, 'src'))) return;
  runBuild('tsc', ['-p', 'tsconfig.build.json']);
}
