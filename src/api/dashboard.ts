/**
 * The dashboard (contract §8) at `/`: the Vite build of `web/`, which `npm run build` (and so
 * `npm ci`, through `prepare`) writes to `dist/web`. Served from memory, from our own origin
 * only, under DASHBOARD_CSP (no inline script or style, nothing from another origin):
 *
 * - `/` (and `/index.html`): the page, `Cache-Control: no-cache` (revalidated by ETag, so a
 *   new build is picked up at once). The server writes `AUTH_MODE` into it
 *   (`data-auth-mode` on `<body>`): with `off` the page works without a token and does not
 *   ask for one.
 * - `/assets/<name>`: the built files, whose names carry a hash of their content, so they are
 *   cached for a year (`immutable`). Only names found in the build are served; the request's
 *   path never becomes a file path.
 *
 * Neither needs a credential: the page signs in by itself (`#token=…` or a token typed in).
 */
import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DASHBOARD_CSP } from './csp.js';
import { etagOf, sendAsset, type StaticAsset } from './static-assets.js';

export { DASHBOARD_CSP };

/**
 * Where `vite build web` writes (web/vite.config.ts). Two levels up from this file is the
 * package root both from source (src/api/) and from the compiled build (dist/api/).
 */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/** URL path of the built files (Vite's `build.assetsDir`). */
export const DASHBOARD_ASSETS_PATH = '/assets/';

/** The attribute of `<body>` in web/index.html that carries AUTH_MODE to the page. */
const AUTH_MARKER = 'data-auth-mode="required"';

const IMMUTABLE = 'public, max-age=31536000, immutable';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

interface Build {
  page: StaticAsset;
  assets: Map<string, StaticAsset>;
}

export interface DashboardOptions {
  authMode: 'required' | 'off';
  /** The build to serve; DASHBOARD_DIR when absent. */
  dir?: string;
}

export type DashboardRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

async function loadBuild(dir: string, authMode: DashboardOptions['authMode']): Promise<Build> {
  const html = await readFile(join(dir, 'index.html'), 'utf8');
  if (!html.includes(AUTH_MARKER)) throw new Error(`${join(dir, 'index.html')} has no ${AUTH_MARKER}: not a build of web/`);
  const page = html.replace(AUTH_MARKER, `data-auth-mode="${authMode}"`);
  const assets = new Map<string, StaticAsset>();
  const assetsDir = join(dir, DASHBOARD_ASSETS_PATH);
  for (const name of await readdir(assetsDir)) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (!contentType) continue;
    const body = await readFile(join(assetsDir, name));
    assets.set(name, { body, contentType, etag: etagOf(body) });
  }
  return { page: { body: page, contentType: 'text/html; charset=utf-8', etag: etagOf(page) }, assets };
}

function sendText(res: ServerResponse, status: number, text: string, head: boolean): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(head ? undefined : text);
}

/**
 * A `node:http` handler for `/`, `/index.html` and `/assets/*` (GET and HEAD). Resolves true when
 * it answered, false when the request is for another route.
 */
export function createDashboardHandler(o: DashboardOptions): DashboardRequestHandler {
  const dir = o.dir ?? DASHBOARD_DIR;
  let build: Promise<Build> | null = null;
  const loaded = () => {
    if (!build) {
      build = loadBuild(dir, o.authMode);
      // A missing build is not remembered: built later, it is served without a restart.
      build.catch(() => (build = null));
    }
    return build;
  };

  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    const isPage = pathname === '/' || pathname === '/index.html';
    if (!isPage && !pathname.startsWith(DASHBOARD_ASSETS_PATH)) return false;
    const head = req.method === 'HEAD';

    let current: Build;
    try {
      current = await loaded();
    } catch (err) {
      const why =
        (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'is not built' : `cannot be read (${(err as Error).message})`;
      sendText(res, 503, `The dashboard ${why}: run \`npm run build\` (it writes ${dir}). GraphQL is at /graphql.`, head);
      return true;
    }
    if (isPage) {
      await sendAsset(req, res, current.page, {
        'Content-Security-Policy': DASHBOARD_CSP,
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-cache',
      });
      return true;
    }
    const asset = current.assets.get(pathname.slice(DASHBOARD_ASSETS_PATH.length));
    if (!asset) {
      sendText(res, 404, 'Not found', head);
      return true;
    }
    await sendAsset(req, res, asset, { 'Cache-Control': IMMUTABLE });
    return true;
  };
}
