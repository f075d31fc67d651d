/**
 * The operator's routes (contract §8), beside GraphQL on the API's port:
 *
 * - `GET /metrics`: Prometheus text, for an ADMIN credential (open with `AUTH_MODE=off`);
 * - `POST /session` / `DELETE /session`: an admin session cookie from a Bearer credential, and
 *   its end (see ../auth/sessions.ts);
 * - `/admin/queues`: bull-board over the three BullMQ queues, for ADMINs, signed in by that
 *   cookie (or a Bearer credential, for scripts). The cookie is read here and nowhere else, so
 *   it authenticates nothing on `/graphql` or `/api`: which is also what keeps other sites from
 *   using it (CSRF), beside `SameSite=Strict`.
 *
 * `/session` and `/admin/queues` answer only the server's own pages (or clients that send no
 * `Origin`): a cookie belongs to this origin, so an origin listed in `CORS_ORIGINS` gets 403
 * there too.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator, Principal } from '../auth/authenticator.js';
import { SESSION_COOKIE, SESSION_COOKIE_PATH, type Sessions } from '../auth/sessions.js';
import type { Logger } from '../lib/logger.js';
import { METRICS_CONTENT_TYPE, metricsText } from '../metrics/metrics.js';
import { everyQueue, type Queues } from '../queues/queues.js';
import { judgeOrigin, type BrowserRules } from './http-guards.js';
import type { RequestGate } from './request-auth.js';
import { ADMIN_QUEUES_CSP } from './csp.js';

export const METRICS_PATH = '/metrics';
export const SESSION_PATH = '/session';
export const ADMIN_QUEUES_PATH = '/admin/queues';

type Send = (res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>) => void;

export interface OperationsOptions {
  auth: Authenticator;
  gate: RequestGate;
  sessions: Sessions;
  queues: Queues;
  rules: BrowserRules;
  logger: Logger;
  send: Send;
}

/** Handles the request when it is one of these routes (resolves true); false for any other path. */
export type OperationsRoutes = (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean>;

/** The value of cookie `name` in a `Cookie` header, or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * Whether the browser reached us over https: directly, or through a proxy that says so
 * (`X-Forwarded-Proto`), or from a page whose `Origin` is https. Only ever used to add `Secure`
 * to a cookie, which a lying header cannot turn into a weakness (at worst the browser refuses
 * to keep a Secure cookie over http, and that client stays signed out).
 */
function overHttps(req: IncomingMessage): boolean {
  const forwarded = req.headers['x-forwarded-proto'];
  const proto = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
  return (
    ('encrypted' in req.socket && req.socket.encrypted === true) ||
    proto === 'https' ||
    (req.headers.origin ?? '').startsWith('https://')
  );
}

function sessionCookie(req: IncomingMessage, value: string, maxAgeSeconds: number): string {
  return (
    `${SESSION_COOKIE}=${value}; Path=${SESSION_COOKIE_PATH}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict` +
    (overHttps(req) ? '; Secure' : '')
  );
}

export function createOperationsRoutes(o: OperationsOptions): OperationsRoutes {
  let board: Promise<(req: IncomingMessage, res: ServerResponse) => void> | null = null;

  const sameOriginOnly = (req: IncomingMessage, res: ServerResponse, what: string): boolean => {
    const verdict = judgeOrigin(req, o.rules);
    if (verdict.kind === 'none' || verdict.kind === 'same') return true;
    o.send(res, 403, {
      error: `${what} answers this server's own pages only (its session cookie belongs to this origin), not ${req.headers.origin}`,
      code: 'FORBIDDEN',
    });
    return false;
  };

  const methodNotAllowed = (req: IncomingMessage, res: ServerResponse, allow: string) => {
    res.setHeader('Allow', allow);
    o.send(res, 405, { error: `${req.method} is not allowed here; use ${allow.replace(', ', ' or ')}` });
  };

  const forbidden = (res: ServerResponse, what: string, p: Principal) =>
    o.send(res, 403, { error: `${what} is for ADMINs; you are a ${p.role}`, code: 'FORBIDDEN' });

  async function metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(req, res, 'GET, HEAD');
    const principal = await o.gate.admit(req, res, 'rest');
    if (!principal) return;
    if (principal.role !== 'ADMIN') return forbidden(res, METRICS_PATH, principal);
    const text = await metricsText();
    res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  async function session(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' && req.method !== 'DELETE') return methodNotAllowed(req, res, 'POST, DELETE');
    if (!sameOriginOnly(req, res, SESSION_PATH)) return;
    if (req.method === 'POST') {
      const principal = await o.gate.admit(req, res, 'rest');
      if (!principal) return;
      const created = await o.sessions.create(principal);
      if (!created) {
        o.send(res, 401, { error: 'Not signed in: the credential expires within a second.', code: 'UNAUTHENTICATED' });
        return;
      }
      o.logger.info('[api] admin session started', { userId: principal.userId, tokenId: principal.tokenId });
      res.writeHead(204, { 'Set-Cookie': sessionCookie(req, created.id, created.maxAgeSeconds) }).end();
      return;
    }
    // DELETE: the browser sends no cookie to /session (its Path is /admin), so the cookie is
    // cleared by name; with the credential, every session made from it ends now, on every process.
    if (req.headers.authorization !== undefined) {
      const principal = await o.gate.admit(req, res, 'rest');
      if (!principal) return;
      const ended = await o.sessions.endAllOf(principal.credentialKey);
      o.logger.info(`[api] admin session(s) ended: ${ended}`, { userId: principal.userId, tokenId: principal.tokenId });
    }
    res.writeHead(204, { 'Set-Cookie': sessionCookie(req, '', 0) }).end();
  }

  /** The principal for the board: a Bearer credential, `AUTH_MODE=off`, or the session cookie. */
  async function boardPrincipal(req: IncomingMessage, res: ServerResponse): Promise<Principal | null> {
    if (req.headers.authorization !== undefined || o.auth.mode === 'off') return o.gate.admit(req, res, 'rest');
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const principal = id ? await o.sessions.resolve(id) : null;
    if (!principal) {
      const reason = id ? 'the session has ended or its credential was revoked' : 'no session cookie';
      if ((req.headers.accept ?? '').includes('text/html')) {
        const page = signInPage(reason);
        res.writeHead(401, {
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
          'WWW-Authenticate': 'Bearer',
          'Content-Length': Buffer.byteLength(page),
        });
        res.end(req.method === 'HEAD' ? undefined : page);
      } else {
        const error = `Not signed in: ${reason}. Sign in on the dashboard (POST ${SESSION_PATH}).`;
        o.send(res, 401, { error, code: 'UNAUTHENTICATED' }, { 'WWW-Authenticate': 'Bearer' });
      }
      return null;
    }
    return (await o.gate.limit(req, res, principal, 'rest')) ? principal : null;
  }

  async function adminQueues(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!sameOriginOnly(req, res, ADMIN_QUEUES_PATH)) return;
    const principal = await boardPrincipal(req, res);
    if (!principal) return;
    if (principal.role !== 'ADMIN') return forbidden(res, ADMIN_QUEUES_PATH, principal);
    res.setHeader('Content-Security-Policy', ADMIN_QUEUES_CSP);
    res.setHeader('Referrer-Policy', 'no-referrer');
    board ??= loadBoard(o.queues).catch((err: unknown) => {
      board = null;
      throw err;
    });
    (await board)(req, res);
  }

  return async (req, res, pathname) => {
    if (pathname === METRICS_PATH) await metrics(req, res);
    else if (pathname === SESSION_PATH) await session(req, res);
    else if (pathname === ADMIN_QUEUES_PATH || pathname.startsWith(`${ADMIN_QUEUES_PATH}/`)) await adminQueues(req, res);
    else return false;
    return true;
  };
}

function signInPage(reason: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Sign in: Patternwire queues</title></head>
<body style="font: 15px/1.5 system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>Sign in first</h1>
<p>The queue board needs an ADMIN's session (${reason}). Open the <a href="/">dashboard</a>, sign in
with an ADMIN token, then come back to <a href="${ADMIN_QUEUES_PATH}">${ADMIN_QUEUES_PATH}</a>.</p>
</body></html>
`;
}

/** bull-board links Google Fonts; Patternwire loads nothing from another origin. */
export function withoutExternalFonts(html: string): string {
  return html.replace(/<link[^>]+href="https:\/\/fonts\.googleapis\.com[^>]*>\s*/g, '');
}

/**
 * bull-board on an express app, loaded at the first request of an ADMIN (express and the board
 * cost about half a second of start-up that most API processes never need). Its actions (retry,
 * clean, pause, add a job, …) are all enabled: it is an ADMIN's tool.
 */
async function loadBoard(queues: Queues): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }, { default: express }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/express'),
    import('express'),
  ]);
  const adapter = new ExpressAdapter();
  adapter.setBasePath(ADMIN_QUEUES_PATH);
  createBullBoard({
    queues: everyQueue(queues).map((q) => new BullMQAdapter(q)),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Patternwire queues' } },
  });
  type Render = (path: string, options: object, done: (err: Error | null, html?: string) => void) => void;
  const router = adapter.getRouter() as ReturnType<typeof express> & { engines: Record<string, Render> };
  // The page is rendered by ejs through the view engine bull-board registered: filter its output.
  const render = router.engines['.ejs']!;
  router.engine('ejs', (path, options, done) =>
    render(path, options, (err, html) => done(err, html === undefined ? html : withoutExternalFonts(html))),
  );
  const app = express();
  app.disable('x-powered-by');
  app.use(ADMIN_QUEUES_PATH, router);
  return (req, res) => {
    app(req, res);
  };
}
