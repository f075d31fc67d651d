import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DocumentNode, ExecutionArgs, GraphQLError, GraphQLSchema } from 'graphql';
import type { ServerOptions } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { createSchema, createYoga, maskError } from 'graphql-yoga';
import type { RedisClient } from '../redis/connections.js';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Database } from '../db/client.js';
import { databaseMessage } from '../db/errors.js';
import { typeDefs } from '../schema/graphql.js';
import type { Logger } from '../lib/logger.js';
import { withTimeout } from '../lib/timeout.js';
import type { Queues } from '../queues/queues.js';
import type { RetryingJobs } from '../queues/retrying.js';
import { createDashboardHandler } from './dashboard.js';
import { createGraphiqlHandler } from './graphiql.js';
import { applyBrowserRules, serverTimeouts, verifyUpgradeOrigin, type BrowserRules, type HttpTimeouts } from './http-guards.js';
import type { LiveHub } from './live-hub.js';
import type { AlertRouter } from './alert-router.js';
import { DEPENDENCY_TIMEOUT_MS } from './pipeline-health.js';
import { resolvers, type ApiContext } from './resolvers.js';
import type { NotifyContext } from './notifications.js';
import { handleRestRequest } from './rest.js';
import { quietOversizedMessages, subscriptionLimitErrors, useLimits, webSocketLimits } from './limits.js';
import { DEFAULT_LIMITS, type Limits } from '../config/env.js';
import { useSharedSubscriptionExecution } from './shared-execution.js';
import { ALERT_PERSONAL_FIELDS } from './inbox.js';
import { useUserInputErrors } from './user-input-errors.js';
import { unauthenticated } from './errors.js';
import type { Authenticator, Principal } from '../auth/authenticator.js';
import type { RateLimit } from '../redis/rate-limit.js';
import { bearerCredential } from '../domain/credentials.js';
import { createRequestGate } from './request-auth.js';
import { createSocketGuard, POLICY_CLOSE_CODE } from './socket-guard.js';
import type { Sessions } from '../auth/sessions.js';
import { slowConsumerCloses } from '../metrics/metrics.js';
import { countWebSockets, subscriptionMetrics, useGraphqlMetrics } from './api-metrics.js';
import { createOperationsRoutes } from './operations.js';

export interface ApiServerOptions {
  database: Database;
  queues: Queues;
  hub: LiveHub;
  /** The live part of `myAlerts` (./alert-router.ts), and the most its replay sends (INBOX_REPLAY_MAX). */
  alerts: AlertRouter;
  inboxReplayMax: number;
  /** Jobs waiting for a retry, and how long one may before the pipeline is `degraded`. */
  retrying: RetryingJobs;
  retryAlertMs: number;
  /** The producer connection, pinged by /healthz. */
  redis: RedisClient;
  auth: Authenticator;
  /** Admin sessions (the `/admin/queues` cookie), see ../auth/sessions.ts. */
  sessions: Sessions;
  /** Requests per credential, shared by every API process. */
  rateLimit: { limit: RateLimit; perSecond: number; burst: number };
  /** WebSockets one user may hold open on this process, and how often their credentials are checked again. */
  sockets: { maxPerUser: number; recheckMs: number };
  port: number;
  host: string;
  logger: Logger;
  /** Browser rules and HTTP timeouts (contract §5), see ./http-guards.ts. */
  http: BrowserRules & HttpTimeouts;
  /** Contract §5's limits (src/api/limits.ts); the defaults when not given. */
  limits?: Limits;
  /** Notification rules (contract §7). */
  notify: NotifyContext;
}

export interface ApiServer {
  /** e.g. http://127.0.0.1:4000 */
  url: string;
  port: number;
  /** Stops accepting, closes every WebSocket with 1001, then waits for HTTP requests in flight. */
  close(): Promise<void>;
}

export const GRAPHQL_PATH = '/graphql';

/** 1013 "Try Again Later": a reconnecting client is welcome (and resumes with `after`). */
export const SLOW_CONSUMER_CLOSE_CODE = 1013;

/** Contract §2: the codes of errors the client caused, shown as they are; anything else is masked. */
const CLIENT_ERROR_CODES = new Set([
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'LIMIT_EXCEEDED',
  'RATE_LIMITED',
]);

/**
 * Decided by the code the error carries, not by class: the contract's list is what passes
 * unmasked, and it stays right even if two copies of `graphql` are ever loaded (as vitest did
 * before its alias), where yoga's `instanceof GraphQLError` test would mask them all.
 */
function isClientError(error: unknown): error is Error {
  if (!(error instanceof Error) || error.name !== 'GraphQLError') return false;
  const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
  return typeof code === 'string' && CLIENT_ERROR_CODES.has(code);
}

export async function createApiServer(o: ApiServerOptions): Promise<ApiServer> {
  const { logger } = o;
  const limits = o.limits ?? DEFAULT_LIMITS;
  const shared = {
    db: o.database.db,
    queues: o.queues,
    hub: o.hub,
    alerts: o.alerts,
    inboxReplayMax: o.inboxReplayMax,
    retrying: o.retrying,
    retryAlertMs: o.retryAlertMs,
    notify: o.notify,
  };

  const yoga = createYoga<{ req?: IncomingMessage; socket?: WebSocket; principal: Principal }, ApiContext>({
    schema: createSchema<ApiContext>({ typeDefs, resolvers }),
    graphqlEndpoint: GRAPHQL_PATH,
    graphiql: false,
    landingPage: false,
    // CORS is answered before yoga, for every route alike (./http-guards.ts).
    cors: false,
    // Over graphql-ws the initial context carries the socket (see onSubscribe below); a client
    // too slow for its subscriptions loses the connection, not the server its memory.
    context: ({ socket, principal }) => ({
      ...shared,
      principal,
      onSlowConsumer: (error) => {
        if (!socket || socket.readyState !== socket.OPEN) return;
        logger.warn(`[api] closing a slow WebSocket client: ${error.message}`, { userId: principal.userId });
        slowConsumerCloses.inc();
        socket.close(SLOW_CONSUMER_CLOSE_CODE, 'Too slow: events were queued past the limit; resume with after');
      },
    }),
    logging: false,
    plugins: [
      useUserInputErrors(),
      useSharedSubscriptionExecution(subscriptionMetrics(), [ALERT_PERSONAL_FIELDS]),
      useLimits(limits),
      useGraphqlMetrics(),
    ],
    maxRequestBodySize: limits.bodyBytes,
    maskedErrors: {
      maskError(error, message, isDev) {
        if (isClientError(error)) return error;
        const masked = maskError(error, message, isDev);
        if (masked !== error) {
          const cause = (error as { originalError?: unknown }).originalError ?? error;
          // A failed query is said as the database said it: drizzle's message carries the whole statement.
          const text =
            cause instanceof Error && cause.message.startsWith('Failed query:')
              ? databaseMessage(cause)
              : cause instanceof Error
                ? (cause.stack ?? cause.message)
                : String(cause);
          logger.error(`[api] internal error: ${text}`);
        }
        return masked;
      },
    },
  });

  const graphiql = createGraphiqlHandler({ endpoint: GRAPHQL_PATH, assetsBase: `${GRAPHQL_PATH}/assets` });
  const dashboard = createDashboardHandler({ authMode: o.auth.mode });
  const gate = createRequestGate({
    auth: o.auth,
    rateLimit: o.rateLimit.limit,
    perSecond: o.rateLimit.perSecond,
    burst: o.rateLimit.burst,
    send: sendJson,
  });
  const operations = createOperationsRoutes({
    auth: o.auth,
    gate,
    sessions: o.sessions,
    queues: o.queues,
    rules: o.http,
    logger,
    send: sendJson,
  });
  const guard = createSocketGuard({
    db: o.database.db,
    maxPerUser: o.sockets.maxPerUser,
    recheckMs: o.sockets.recheckMs,
    logger,
  });

  const server: Server = createServer(serverTimeouts(o.http), (req, res) => {
    route(req, res).catch((err: Error) => {
      logger.error(`[api] ${req.method} ${req.url} failed: ${err.stack ?? err.message}`, { method: req.method, path: req.url });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal server error' });
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Browser rules first (CORS, CSRF, nosniff/no-store): every later answer, refusals included, carries their headers.
    if (!applyBrowserRules(req, res, o.http, GRAPHQL_PATH)) return;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === GRAPHQL_PATH || url.pathname.startsWith(`${GRAPHQL_PATH}/`)) {
      if (await graphiql(req, res)) return;
      const principal = await gate.admit(req, res, 'graphql');
      if (principal) await yoga.handle(req, res, { principal });
      return;
    }
    // /metrics, /session, /admin/queues (contract §8)
    if (await operations(req, res, url.pathname)) return;
    if (url.pathname === '/healthz') {
      const problems = await checkDependencies(o);
      sendJson(res, problems.length ? 503 : 200, problems.length ? { status: 'down', reasons: problems } : { status: 'ok' });
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        sendJson(res, 405, { error: `${req.method} is not allowed here; use GET` });
        return;
      }
      if (!(await gate.admit(req, res, 'rest'))) return;
      const response = await handleRestRequest(o.database.db, url);
      if (response) {
        sendJson(res, response.status, response.body);
        return;
      }
    }
    if (await dashboard(req, res)) return;
    sendJson(res, 404, { error: `nothing at ${url.pathname}; the dashboard is at /, GraphQL at ${GRAPHQL_PATH}` });
  }

  const wss = new WebSocketServer({
    server,
    path: GRAPHQL_PATH,
    verifyClient: verifyUpgradeOrigin(o.http),
    ...webSocketLimits(limits),
  });
  countWebSockets(wss);
  const wsServer = useServer<Record<string, unknown>, { principal?: Principal }>(
    {
      // Contract §5: the credential comes in connection_init; without a good one graphql-ws
      // closes with 4403 Forbidden. Past the per-user socket limit: 1008, naming the limit.
      onConnect: async (ctx) => {
        const header = ctx.connectionParams?.['authorization'];
        const result = await o.auth.authenticate(bearerCredential(typeof header === 'string' ? header : null));
        if (!result.ok) return false;
        const socket = ctx.extra.socket;
        if (!guard.admit(socket, result.principal, ctx.extra.request.socket.remoteAddress ?? '?')) {
          socket.close(POLICY_CLOSE_CODE, `Too many WebSockets: at most ${o.sockets.maxPerUser} per user (WS_MAX_PER_USER)`);
          return false;
        }
        ctx.extra.principal = result.principal;
        return true;
      },
      onClose: (ctx) => guard.release(ctx.extra.socket),
      execute: (args: ExecutionArgs) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args: ExecutionArgs) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onSubscribe: async (ctx, _id, payload) => {
        const overLimit = subscriptionLimitErrors(ctx.subscriptions, limits);
        if (overLimit) return overLimit;
        // Each operation draws from the credential's rate, as an HTTP request does: parsing and
        // validating one is work a client could otherwise ask for without bound.
        // (graphql-ws asks only once connection_init was accepted, which set the principal.)
        const limited = ctx.extra.principal
          ? await gate.limitOperation(ctx.extra.principal, ctx.extra.request.socket.remoteAddress)
          : unauthenticated('Not signed in: no credential was accepted on this connection.');
        if (limited) return [limited];
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          principal: ctx.extra.principal,
          params: payload,
        }) as Enveloped;
        let document;
        try {
          document = parse(payload.query);
        } catch (err) {
          return [err as GraphQLError];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
      },
    },
    wss,
  );
  quietOversizedMessages(wss, logger, limits);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = o.host === '0.0.0.0' || o.host === '::' ? 'localhost' : o.host;

  return {
    url: `http://${shownHost}:${port}`,
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      for (const socket of wss.clients) socket.close(1001, 'Server shutting down');
      guard.close();
      await wsServer.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      // Requests in flight get a moment to finish; a client holding a request open does not
      // get to hold up the shutdown.
      const grace = setTimeout(() => server.closeAllConnections(), 2_000);
      await closed;
      clearTimeout(grace);
    },
  };
}

type OperationResult = ReturnType<NonNullable<ServerOptions['execute']>>;
/** What yoga's `getEnveloped` hands a transport: the schema and the plugin-wrapped phases. */
interface Enveloped {
  schema: GraphQLSchema;
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
  contextFactory: () => Promise<unknown>;
  parse: (source: string) => DocumentNode;
  validate: (schema: GraphQLSchema, document: DocumentNode) => readonly GraphQLError[];
}
interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function checkDependencies(o: ApiServerOptions): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all([
    withTimeout(o.redis.ping(), DEPENDENCY_TIMEOUT_MS).catch((err: Error) => problems.push(`Redis: ${err.message}`)),
    withTimeout(o.database.ping(), DEPENDENCY_TIMEOUT_MS).catch((err: Error) => problems.push(`database: ${err.message}`)),
  ]);
  return problems;
}
