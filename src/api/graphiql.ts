/**
 * Self-hosted GraphiQL for the `/graphql` endpoint.
 *
 * graphql-yoga's built-in GraphiQL page loads its script, stylesheet and
 * Monaco editor workers from a CDN. Patternwire must work offline and under a
 * strict Content-Security-Policy, so this module serves the very same prebuilt
 * bundle (the `@graphql-yoga/graphiql` npm package, which is what yoga's page
 * loads from the CDN) straight out of node_modules, plus a tiny init script of
 * our own. Nothing is fetched from a third-party origin and the HTML page has
 * no inline script.
 *
 * Subscriptions run over graphql-ws (`graphql-transport-ws` subprotocol) on the
 * same URL as the HTTP endpoint (`subscriptionsProtocol: 'WS'`).
 *
 * Authentication (contract §5): the page takes the credential from the URL
 * fragment (`/graphql#token=…`, as `npm start` prints it), keeps it in
 * sessionStorage and sends it as `Authorization: Bearer …` and as graphql-ws
 * `connectionParams`; see INIT_SCRIPT. The page and its assets need none.
 *
 * Mounting inside a plain `node:http` request handler, before yoga:
 *
 *   const graphiql = createGraphiqlHandler({ endpoint: '/graphql', assetsBase: '/graphql/assets' });
 *   http.createServer(async (req, res) => {
 *     if (await graphiql(req, res)) return;
 *     yoga(req, res);
 *   });
 *
 * The lower level pieces — `renderGraphiqlPage`, `GRAPHIQL_CSP`, `createGraphiqlAssets` —
 * are exported for servers that want to route by themselves.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TOKEN_STORAGE_KEY } from '../client/credential.js';
import { GRAPHIQL_CSP } from './csp.js';
import { etagOf, sendAsset, type StaticAsset } from './static-assets.js';

/** npm package that ships the prebuilt GraphiQL browser bundle. */
const GRAPHIQL_PACKAGE = '@graphql-yoga/graphiql';

/** The page's Content-Security-Policy (its relaxations and why: ./csp.ts). */
export { GRAPHIQL_CSP };

export interface GraphiqlPageOptions {
  /** URL path of the GraphQL endpoint (HTTP and graphql-ws), e.g. `/graphql`. */
  endpoint: string;
  /** URL path under which `createGraphiqlAssets()` is mounted, e.g. `/graphql/assets`. */
  assetsBase: string;
  /** Page and logo title. Plain text. */
  title?: string;
}

export type GraphiqlAsset = StaticAsset;

export interface GraphiqlAssets {
  /**
   * Look up an asset by request pathname (`<assetsBase>/<name>`) or by bare
   * name (`graphiql.js`). Returns null for anything that is not one of the
   * fixed asset names; the pathname is never used to build a file path.
   */
  get(pathname: string): Promise<GraphiqlAsset | null>;
}

export const GRAPHIQL_DEFAULT_TITLE = 'Patternwire GraphiQL';

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch] ?? ch);
}

function trimTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * The GraphiQL HTML page. It only references same-origin files under
 * `assetsBase`; the configuration for the init script travels in data-
 * attributes, so the page contains no inline script.
 */
export function renderGraphiqlPage(options: GraphiqlPageOptions): string {
  const title = options.title ?? GRAPHIQL_DEFAULT_TITLE;
  const assets = escapeHtml(trimTrailingSlash(options.assetsBase));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assets}/graphiql.css">
<script defer src="${assets}/graphiql.js"></script>
<script defer src="${assets}/graphiql-init.js"></script>
</head>
<body>
<noscript>GraphiQL needs JavaScript.</noscript>
<div id="graphiql" data-endpoint="${escapeHtml(options.endpoint)}" data-assets-base="${assets}" data-title="${escapeHtml(title)}">Loading ${escapeHtml(title)}…</div>
</body>
</html>
`;
}

/** sessionStorage key under which the pages (GraphiQL and the dashboard) keep the credential. */
export { TOKEN_STORAGE_KEY };

/** Id of the "not signed in" note the init script shows when it has no credential. */
export const SIGN_IN_NOTE_ID = 'patternwire-sign-in';

/**
 * Browser-side init script, served as `<assetsBase>/graphiql-init.js`. Runs
 * after the UMD bundle (both are `defer`, so they execute in document order).
 *
 * The credential (contract §5): `npm start` prints `…/graphql#token=…`. A
 * fragment never reaches the server, so the token is read here, kept in
 * sessionStorage (this tab only, gone when it closes) and taken off the
 * address bar with history.replaceState before GraphiQL renders (GraphiQL
 * copies location.href when it first renders and writes it back on every edit).
 * HTTP requests carry it as `Authorization: Bearer …` (the bundle's
 * `additionalHeaders`, read per request) and graphql-ws as `connectionParams`
 * (read on each connect). It is never put in GraphiQL's headers editor, which
 * GraphiQL persists in localStorage. `#token=` with nothing after it signs out.
 */
const INIT_SCRIPT = `(function () {
  'use strict';
  var TOKEN_KEY = ${JSON.stringify(TOKEN_STORAGE_KEY)};
  var NOTE_ID = ${JSON.stringify(SIGN_IN_NOTE_ID)};
  var root = document.getElementById('graphiql');
  if (!root || !window.YogaGraphiQL) {
    throw new Error('GraphiQL bundle or #graphiql element missing');
  }
  var endpoint = root.getAttribute('data-endpoint') || location.pathname;
  var assetsBase = root.getAttribute('data-assets-base') || '';
  var title = root.getAttribute('data-title') || undefined;

  // The token of #token=… (null when the fragment has none); removes it from
  // the address bar and from this history entry, keeping any other parameter.
  function takeTokenFromFragment() {
    var params = new URLSearchParams(location.hash.slice(1));
    var value = params.get('token');
    if (value === null) return null;
    params.delete('token');
    var rest = params.toString();
    history.replaceState(history.state, '', location.pathname + location.search + (rest ? '#' + rest : ''));
    return value.trim();
  }
  // Falls back to memory when storage is refused (then a reload signs out).
  var token = null;
  function keepToken(value) {
    token = value || null;
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
      return true;
    } catch (_error) {
      return false;
    }
  }
  var fromFragment = takeTokenFromFragment();
  if (fromFragment !== null) {
    keepToken(fromFragment);
  } else {
    try {
      token = sessionStorage.getItem(TOKEN_KEY);
    } catch (_error) {
      token = null;
    }
  }
  // A new #token=… typed into the address bar of this open page.
  window.addEventListener('hashchange', function () {
    var value = takeTokenFromFragment();
    if (value === null) return;
    // Reload so the schema is fetched again with the new credential.
    if (keepToken(value)) location.reload();
    else showSignInNote(!token);
  });

  // Without a credential every request gets the server's 401, which GraphiQL
  // shows in the result pane; this note says how to get one.
  function showSignInNote(show) {
    var note = document.getElementById(NOTE_ID);
    if (!show) {
      if (note) note.remove();
      return;
    }
    if (note) return;
    note = document.createElement('div');
    note.id = NOTE_ID;
    note.setAttribute('role', 'status');
    var s = note.style;
    s.position = 'fixed';
    s.right = '16px';
    s.bottom = '16px';
    s.zIndex = '1000';
    s.maxWidth = '420px';
    s.padding = '10px 36px 10px 14px';
    s.borderRadius = '6px';
    s.background = '#fff4e5';
    s.color = '#5f370e';
    s.border = '1px solid #f0b46a';
    s.font = '13px/1.4 system-ui, sans-serif';
    s.boxShadow = '0 2px 8px rgba(0, 0, 0, 0.2)';
    var text = document.createElement('span');
    text.textContent =
      'Not signed in: requests will answer 401. Open the GraphiQL link that npm start prints ' +
      '(' + location.origin + location.pathname + '#token=…), or add #token=<your API token> ' +
      '(patternwire tokens create <user>) to this address.';
    var close = document.createElement('button');
    close.type = 'button';
    close.textContent = '×';
    close.setAttribute('aria-label', 'Dismiss');
    var c = close.style;
    c.position = 'absolute';
    c.top = '4px';
    c.right = '6px';
    c.border = '0';
    c.background = 'transparent';
    c.color = 'inherit';
    c.font = '18px/1 system-ui, sans-serif';
    c.cursor = 'pointer';
    close.addEventListener('click', function () {
      note.remove();
    });
    note.append(text, close);
    document.body.append(note);
  }
  showSignInNote(!token);

  // Monaco asks for one worker per label; serve them from our own origin so
  // that neither a CDN nor blob: URLs are needed.
  var workers = {
    editorWorkerService: 'editor.worker.js',
    json: 'json.worker.js',
    graphql: 'graphql.worker.js'
  };
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: function (_moduleId, label) {
      return assetsBase + '/' + (workers[label] || workers.editorWorkerService);
    }
  };
  // The bundle renders the title with innerHTML: hand it escaped text.
  var escapedTitle;
  if (title) {
    var span = document.createElement('span');
    span.textContent = title;
    escapedTitle = span.innerHTML;
  }
  root.textContent = '';
  window.YogaGraphiQL.renderYogaGraphiQL(root, {
    endpoint: endpoint,
    subscriptionsProtocol: 'WS',
    title: escapedTitle,
    // Both are passed on to @graphql-tools/url-loader: additionalHeaders
    // becomes the HTTP executor's headers (a function is called per request;
    // headers typed in GraphiQL's headers editor still override it), and
    // connectionParams the graphql-ws client's (a function is called on each
    // connect).
    additionalHeaders: function () {
      return token ? { authorization: 'Bearer ' + token } : {};
    },
    connectionParams: function () {
      return token ? { authorization: 'Bearer ' + token } : {};
    }
  });
})();
`;

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

type AssetSource = { kind: 'package'; file: string; contentType: string } | { kind: 'inline'; body: string; contentType: string };

/** The complete, fixed set of asset names. File names are those inside the package's dist/. */
const ASSET_SOURCES: ReadonlyMap<string, AssetSource> = new Map<string, AssetSource>([
  ['graphiql.js', { kind: 'package', file: 'dist/yoga-graphiql.umd.js', contentType: JS }],
  ['graphiql.css', { kind: 'package', file: 'dist/graphiql.css', contentType: CSS }],
  ['graphiql-init.js', { kind: 'inline', body: INIT_SCRIPT, contentType: JS }],
  ['editor.worker.js', { kind: 'package', file: 'dist/monacoeditorwork/editor.worker.bundle.js', contentType: JS }],
  ['json.worker.js', { kind: 'package', file: 'dist/monacoeditorwork/json.worker.bundle.js', contentType: JS }],
  // (sic: the double dot is the file name the package ships)
  ['graphql.worker.js', { kind: 'package', file: 'dist/monacoeditorwork/graphql.worker..bundle.js', contentType: JS }],
]);

let packageDir: string | undefined;

function graphiqlPackageDir(): string {
  if (packageDir === undefined) {
    // The package's "exports" only exposes "." and "./package.json", so
    // resolve the latter and read dist/ files relative to it.
    const require = createRequire(import.meta.url);
    packageDir = dirname(require.resolve(`${GRAPHIQL_PACKAGE}/package.json`));
  }
  return packageDir;
}

// Module-level so every createGraphiqlAssets() shares one copy of the ~8 MB of files.
const assetCache = new Map<string, Promise<GraphiqlAsset>>();

function loadAsset(name: string, source: AssetSource): Promise<GraphiqlAsset> {
  let pending = assetCache.get(name);
  if (!pending) {
    pending = (async (): Promise<GraphiqlAsset> => {
      const body = source.kind === 'inline' ? source.body : await readFile(join(graphiqlPackageDir(), source.file));
      return { body, contentType: source.contentType, etag: etagOf(body) };
    })();
    // Do not cache failures (e.g. package missing): let a later request retry.
    pending.catch(() => assetCache.delete(name));
    assetCache.set(name, pending);
  }
  return pending;
}

/** Serves the GraphiQL bundle, stylesheet, init script and Monaco workers, cached in memory after first read. */
export function createGraphiqlAssets(): GraphiqlAssets {
  return {
    async get(pathname: string): Promise<GraphiqlAsset | null> {
      const name = pathname.slice(pathname.lastIndexOf('/') + 1);
      const source = ASSET_SOURCES.get(name);
      return source ? loadAsset(name, source) : null;
    },
  };
}

function wantsHtml(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').includes('text/html');
}

export interface GraphiqlHandlerOptions {
  endpoint?: string;
  assetsBase?: string;
  title?: string;
}

export type GraphiqlRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/**
 * A `node:http` handler that serves the GraphiQL page (GET/HEAD on the
 * endpoint with `Accept: text/html`, as yoga itself decides) and its assets
 * (GET/HEAD under `assetsBase`). Resolves true when it wrote the response,
 * false when the request is not for GraphiQL and should go on to yoga.
 */
export function createGraphiqlHandler(options: GraphiqlHandlerOptions = {}): GraphiqlRequestHandler {
  const endpoint = trimTrailingSlash(options.endpoint ?? '/graphql');
  const assetsBase = trimTrailingSlash(options.assetsBase ?? `${endpoint}/assets`);
  const assetsPrefix = `${assetsBase}/`;
  const assets = createGraphiqlAssets();
  const pageOptions: GraphiqlPageOptions = { endpoint, assetsBase };
  if (options.title !== undefined) pageOptions.title = options.title;
  const page = renderGraphiqlPage(pageOptions);

  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return false;
    }
    const head = req.method === 'HEAD';

    if ((pathname === endpoint || pathname === `${endpoint}/`) && wantsHtml(req)) {
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': GRAPHIQL_CSP,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-cache',
        'Content-Length': Buffer.byteLength(page),
      });
      res.end(head ? undefined : page);
      return true;
    }

    if (!pathname.startsWith(assetsPrefix)) return false;
    const name = pathname.slice(assetsPrefix.length);
    const asset = name.includes('/') ? null : await assets.get(name);
    if (!asset) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end(head ? undefined : 'Not found');
      return true;
    }
    // Revalidate with the ETag: cheap, and an upgraded package is picked up at once.
    await sendAsset(req, res, asset, { 'Cache-Control': 'no-cache' });
    return true;
  };
}
