/**
 * The dashboard's tests run against its build (dist/web, what the API serves). `npm ci` builds
 * it; after an edit under web/ (or of what web/ imports from src/) this rebuilds it first, so a
 * test never passes on an old build.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { DASHBOARD_DIR } from '../../src/api/dashboard.js';
import { PROJECT_ROOT } from './processes.js';

/** What the build is made of. */
const SOURCES = ['web/src', 'web/index.html', 'web/favicon.svg', 'web/vite.config.ts', 'src/client', 'src/schema/enums.ts'];

function newestMtime(file: string): number {
  const s = statSync(file);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(file).map((name) => newestMtime(path.join(file, name))));
}

function builtAt(): number {
  try {
    return statSync(path.join(DASHBOARD_DIR, 'index.html')).mtimeMs;
  } catch {
    return -1;
  }
}

/** Builds web/ into dist/web unless the build is newer than every source. */
export function ensureDashboardBuild(): void {
  const sources = Math.max(...SOURCES.map((s) => newestMtime(path.join(PROJECT_ROOT, s))));
  if (builtAt() > sources) return;
  const vite = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'vite');
  const result = spawnSync(vite, ['build', 'web', '--logLevel', 'warn'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`vite build web failed:\n${result.stdout}\n${result.stderr}`);
}
