/**
 * The rules a browser is held to (contract §5, "Browsers"), in the node:http layer, before any
 * route runs, so GraphQL, REST, /healthz and every error answer alike:
 *
 * - CORS: a request whose `Origin` is neither the server's own nor listed in `CORS_ORIGINS` is
 *   refused with 403 and no `Access-Control-Allow-Origin`; a listed origin gets itself back (never
 *   `*`, never `Access-Control-Allow-Credentials`: the credential is the `Authorization` header,
 *   not a cookie), and its preflight is answered here. yoga's own `cors` is switched off: it
 *   cannot refuse (an unlisted origin's POST still runs, the browser only hides the answer) and by
 *   default it reflects any origin with `allow-credentials: true`.
 * - The same check for a WebSocket upgrade (403 before the handshake), see `verifyUpgradeOrigin`.
 * - CSRF: a POST to /graphql as a form or plain text (the bodies a page can send cross-site
 *   without a preflight) is refused with 415; yoga would run form and multipart bodies.
 * - `X-Content-Type-Options: nosniff` and `Cache-Control: no-store` on every response (a route
 *   may set its own caching, as the GraphiQL assets do).
 * - Node's HTTP timeouts, see `serverTimeouts`.
 */
import type { IncomingMessage, ServerOptions, ServerResponse } from 'node:http';

export interface BrowserRules {
  /** Exact origins (`scheme://host[:port]`) allowed to call cross-origin. */
  corsOrigins: readonly string[];
}

export interface HttpTimeouts {
  /** Time allowed to receive a request's headers (Node's `headersTimeout`). */
  headersTimeoutMs: number;
  /** Time allowed to receive a whole request, body included (Node's `requestTimeout`). */
  requestTimeoutMs: number;
}

/** How long a browser may reuse a preflight answer. */
export const CORS_MAX_AGE_SECONDS = 600;
export const CORS_ALLOWED_HEADERS = 'Authorization, Content-Type';
/** Headers a page may read beyond the safelisted ones (the 401 and 429 answers carry them). */
export const CORS_EXPOSED_HEADERS = 'WWW-Authenticate, Retry-After';
/** POST bodies a page can send to another origin without a preflight: never accepted. */
export const CSRF_CONTENT_TYPES: readonly string[] = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];

type OriginVerdict = { kind: 'none' | 'same' } | { kind: 'allowed' | 'refused'; origin: string };

/**
 * No `Origin`: not a browser's cross-origin request (curl, a server, a same-origin GET). Same
 * origin: the Origin's host and port are the `Host` the request was sent to (the scheme is not
 * compared: a TLS proxy in front changes it). Anything else, `null` included, must be listed.
 */
export function judgeOrigin(req: IncomingMessage, rules: BrowserRules): OriginVerdict {
  const origin = req.headers.origin;
  if (origin === undefined) return { kind: 'none' };
  if (rules.corsOrigins.includes(origin)) return { kind: 'allowed', origin };
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host && req.headers.host !== undefined && host === req.headers.host.toLowerCase()) return { kind: 'same' };
  return { kind: 'refused', origin };
}

export function refusedOriginMessage(origin: string): string {
  return `Origin ${origin} may not call this server: cross-origin requests are refused unless the origin is listed in CORS_ORIGINS`;
}

function isGraphqlPath(pathname: string, graphqlPath: string): boolean {
  return pathname === graphqlPath || pathname.startsWith(`${graphqlPath}/`);
}

/** The content type without parameters, lower case (`multipart/form-data; boundary=…` → `multipart/form-data`). */
function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  { graphql, code }: { graphql: boolean; code: string },
  headers: Record<string, string> = {},
): void {
  // /graphql answers in the GraphQL shape, everything else as REST does.
  const body = JSON.stringify(graphql ? { errors: [{ message, extensions: { code } }] } : { error: message });
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * Applies the browser rules to one request. Returns true when the request goes on to its route;
 * false when the answer has been sent (a refusal, or a preflight's 204).
 */
export function applyBrowserRules(req: IncomingMessage, res: ServerResponse, rules: BrowserRules, graphqlPath: string): boolean {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  // The answer depends on the Origin, whatever it is: no cache may hand one origin's to another.
  res.setHeader('Vary', 'Origin');

  const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  const graphql = isGraphqlPath(pathname, graphqlPath);
  const verdict = judgeOrigin(req, rules);
  if (verdict.kind === 'refused') {
    sendError(res, 403, refusedOriginMessage(verdict.origin), { graphql, code: 'FORBIDDEN' });
    return false;
  }
  if (verdict.kind === 'allowed') {
    res.setHeader('Access-Control-Allow-Origin', verdict.origin);
    res.setHeader('Access-Control-Expose-Headers', CORS_EXPOSED_HEADERS);
  }

  const preflight =
    req.method === 'OPTIONS' && verdict.kind !== 'none' && req.headers['access-control-request-method'] !== undefined;
  if (preflight) {
    res.writeHead(204, {
      'Access-Control-Allow-Methods': graphql ? 'GET, POST' : 'GET, HEAD',
      'Access-Control-Allow-Headers': CORS_ALLOWED_HEADERS,
      'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
      'Content-Length': '0',
    });
    res.end();
    return false;
  }

  if (graphql && req.method === 'POST' && CSRF_CONTENT_TYPES.includes(mediaType(req))) {
    const message =
      `POST bodies as ${mediaType(req)} are refused (a page on another site can send them without asking: ` +
      `cross-site request forgery); send application/json`;
    sendError(res, 415, message, { graphql, code: 'BAD_REQUEST' }, { Accept: 'application/json' });
    return false;
  }
  return true;
}

/**
 * ws's `verifyClient`: an upgrade from a browser page of another, unlisted origin gets 403 before
 * the handshake completes. Clients that send no Origin (Node, CLIs) are let through.
 */
export function verifyUpgradeOrigin(rules: BrowserRules) {
  return (info: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void): void => {
    const verdict = judgeOrigin(info.req, rules);
    if (verdict.kind === 'refused') done(false, 403, refusedOriginMessage(verdict.origin));
    else done(true);
  };
}

/**
 * Options for `createServer`. Node only looks for expired requests every
 * `connectionsCheckingInterval` (30 s by default, longer than the timeouts themselves), so it is
 * set to a quarter of the headers timeout, between 50 ms and 1 s.
 */
export function serverTimeouts(
  t: HttpTimeouts,
): Pick<ServerOptions, 'headersTimeout' | 'requestTimeout' | 'connectionsCheckingInterval'> {
  return {
    headersTimeout: t.headersTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(t.headersTimeoutMs / 4))),
  };
}
