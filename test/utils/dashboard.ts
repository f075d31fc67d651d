/**
 * The dashboard's tests run against its build (dist/web, what the API serves). `npm ci` builds
 * it; after an edit under web/ (or of what web/ imports from src/) this rebuilds it first, so a
 * test never passes on an old build.
 */
import path from 'node:path';
import { DASHBOARD_DIR } from '../../src/api/dashboard.js';
import { newestMtime, runBuild } from './builds.js';
import { PROJECT_ROOT } from './processes.js';

/** What the build is made of. */
const SOURCES = ['web/src', 'web/index.html', 'web/favicon.svg', 'web/vite.config.ts', 'src/client', 'src/schema/enums.ts'];

/** Builds web/ into dist/web unless the build is newer than every source. */
export function ensureDashboardBuild(): void {
  const sources = Math.max(...SOURCES.map((s) => newestMtime(path.join(PROJECT_ROOT, s))));
  if (newestMtime(path.join(DASHBOARD_DIR, 'index.html')) > sources) return;
  runBuild('vite', ['build', 'web', '--logLevel', 'warn']);
}
