/**
 * Contract §5's limits on what one client may ask of the API. Past any of them the client gets
 * an error naming the limit and its environment variable, nothing of the operation runs, and
 * other clients do not notice.
 *
 * - aliases, depth, directives, tokens: GraphQL Armor (validation rules and a counting parser);
 * - cost: `graphql-query-complexity` with the estimator below, checked after validation;
 * - HTTP body: yoga's `maxRequestBodySize` (Content-Length up front, a chunked body counted as it
 *   is read), its error reworded here;
 * - WebSocket message: ws's `maxPayload` (close 1009);
 * - operations open on one WebSocket: `subscriptionLimitErrors`, called from graphql-ws's onSubscribe;
 * - `patternAlert(after:)` replay: the resolver counts first (`replayLimit` in the context).
 *
 * The errors of the first three carry `extensions.code = "LIMIT_EXCEEDED"` and go out with
 * HTTP 400 (413 for the body); over graphql-ws they are an `error` message for that operation.
 */
import { createRequire } from 'node:module';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import {
  getNullableType,
  getOperationAST,
  getVariableValues,
  isListType,
  type DocumentNode,
  type GraphQLError,
  type GraphQLSchema,
  type ValidationContext,
} from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { WebSocketServer } from 'ws';
import { LIMIT_VARIABLES, type Limits } from '../config/env.js';
import type { Logger } from '../lib/logger.js';
import { MAX_WATCHLISTS } from './watchlists.js';

// The package's ESM build imports `graphql/index.mjs`, a second copy of graphql next to the
// CommonJS one yoga and the schema use ("Cannot use GraphQLSchema from another module or
// realm"); its CommonJS build requires plain `graphql`, the same copy.
const require = createRequire(import.meta.url);
const complexity = require('graphql-query-complexity') as typeof import('graphql-query-complexity');

export const LIMIT_EXCEEDED = 'LIMIT_EXCEEDED';

type LimitName = keyof Limits;

/** An error naming the limit, its value and its variable; `status` is the HTTP status it answers. */
export function limitError(
  limit: LimitName,
  max: number,
  message: string,
  http: { status: number; headers?: Record<string, string> } = { status: 400 },
): GraphQLError {
  return createGraphQLError(`${message} (limit ${max}, ${LIMIT_VARIABLES[limit]})`, {
    extensions: { code: LIMIT_EXCEEDED, limit, max, setting: LIMIT_VARIABLES[limit], http },
  });
}

/** The number GraphQL Armor found, from its own message ("…, found 16."). */
function found(armorError: GraphQLError): string {
  const match = /found (\d+)/.exec(armorError.message);
  return match ? `: ${match[1]}` : '';
}

/**
 * GraphQL Armor with the contract's numbers and our errors. A validation rule's rejection is
 * reported through the validation context (so validation goes on, and the client gets every
 * problem at once); the token count runs inside the parser, which our error then stops.
 * Armor's own cost rule is off: it does not read arguments (see `useCostLimit`).
 */
function useArmor(limits: Limits): Plugin {
  const reportAs =
    (limit: LimitName, what: string) =>
    (ctx: ValidationContext | null, error: GraphQLError): void => {
      const named = limitError(limit, limits[limit], `${what}${found(error)}`);
      if (ctx) ctx.reportError(named);
      else throw named;
    };
  const rule = (limit: LimitName, what: string) => ({
    n: limits[limit],
    propagateOnRejection: false,
    onReject: [reportAs(limit, what)],
  });
  return EnvelopArmorPlugin({
    maxAliases: rule('aliases', 'Too many aliases in the operation'),
    maxDepth: rule('depth', 'The operation is nested too deeply'),
    maxDirectives: rule('directives', 'Too many directives in the operation'),
    maxTokens: rule('tokens', 'The operation has too many tokens'),
    costLimit: { enabled: false },
    // "Did you mean …" in validation errors is masked for everyone (see README, Limits).
    blockFieldSuggestion: { enabled: true },
  });
}

/**
 * Lists without `first` whose length has a fixed bound: they cost that bound times one item.
 * A user has at most MAX_WATCHLISTS watchlists, and every alert may carry all of them.
 */
const BOUNDED_LISTS: Record<string, Record<string, number>> = {
  Query: { watchlists: MAX_WATCHLISTS },
  Alert: { watchlists: MAX_WATCHLISTS },
};

/**
 * The cost rule: a field with a `first` argument costs `first` (its default when absent) times
 * the cost of one item, at least 1; a list with a fixed bound (BOUNDED_LISTS) that bound times an
 * item; any other list field costs the cost of one item, at least 1 (it is bounded by its
 * parent, like a connection's `nodes`); everything else costs what its selection costs, and a
 * scalar nothing. So the cost is the number of list items an operation can return, nested lists
 * multiplying: `patterns(first: 500) { nodes { id } }` costs 500, and with
 * `edges { node { id } }` beside `nodes` 1,000.
 */
export const listCostEstimator: import('graphql-query-complexity').ComplexityEstimator = ({
  type,
  field,
  args,
  childComplexity,
}) => {
  const item = Math.max(1, childComplexity);
  if (field.args.some((a) => a.name === 'first')) {
    const first = typeof args['first'] === 'number' ? args['first'] : 1;
    return Math.max(1, first) * item;
  }
  const bound = BOUNDED_LISTS[type.name]?.[field.name];
  if (bound !== undefined) return bound * item;
  if (isListType(getNullableType(field.type))) return item;
  return undefined;
};

/**
 * Scalars that can each hold up to 64 KiB (a rejected message's raw bytes; a detection's
 * metadata, the unmapped rest of a ≤ 64 KiB message) cost more than the nothing other scalars
 * cost: ten aliases of `rejectedEvents(first: 500) { payload }` answered 169 MB before.
 * `payload` costs 16 (one per 4 KiB it may hold: at most 312 of them, 20 MB, in one operation);
 * `metadata` 4, so a full page of 500 detections with their metadata (2,000) fits twice.
 * A watchlist's `symbols` (up to 500) cost 10: all 50 watchlists with their symbols cost 500,
 * but not with every alert of a page (50 alerts × 50 watchlists × 10 is past the limit).
 */
const HEAVY_FIELDS: Record<string, Record<string, number>> = {
  RejectedEvent: { payload: 16 },
  PatternDetection: { metadata: 4 },
  WatchlistFilter: { symbols: 10 },
};

export const heavyFieldEstimator: import('graphql-query-complexity').ComplexityEstimator = ({ type, field }) =>
  HEAVY_FIELDS[type.name]?.[field.name];

const estimators = [heavyFieldEstimator, listCostEstimator, complexity.simpleEstimator({ defaultComplexity: 0 })];

interface RequestParams {
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/**
 * The cost of the operation the request runs, or null when it cannot run anyway (no such
 * operation, or variables that do not fit: execution refuses those before any resolver).
 */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, params: RequestParams): number | null {
  const operation = getOperationAST(document, params.operationName ?? undefined);
  if (!operation) return null;
  const variables = params.variables ?? {};
  const { errors } = getVariableValues(schema, operation.variableDefinitions ?? [], variables);
  if (errors?.length) return null;
  return complexity.getComplexity({
    schema,
    query: document,
    variables,
    operationName: operation.name?.value,
    estimators,
  });
}

/** Errors this plugin made: a validation result cached by document must not keep them. */
const costErrors = new WeakSet<GraphQLError>();

/**
 * The cost limit as a validation step, so it answers HTTP 400 and a graphql-ws `error` message
 * like every other validation error. The cost depends on the variables, which yoga's
 * validation cache (by document) does not see: so a cost error is never taken from that cache —
 * it is dropped from a cached result and computed again for every request.
 */
function useCostLimit(max: number): Plugin<{ params?: RequestParams }> {
  return {
    onValidate({ params, context }) {
      const schema = params.schema as GraphQLSchema;
      const document = params.documentAST as DocumentNode;
      return ({ result, setResult }) => {
        const others = (result as readonly GraphQLError[]).filter((e) => !costErrors.has(e));
        let error: GraphQLError | null = null;
        if (others.length === 0) {
          let cost: number | null;
          try {
            cost = operationCost(schema, document, context.params ?? {});
          } catch {
            // graphql-query-complexity gives up past 10,000 selections (fragments spread many times).
            cost = Infinity;
          }
          if (cost !== null && cost > max) {
            const shown = Number.isFinite(cost) ? String(cost) : 'too many selections to count';
            error = limitError(
              'cost',
              max,
              `The operation costs ${shown}; each list field costs its first argument, nested lists multiply`,
            );
            costErrors.add(error);
          }
        }
        const next = error ? [...others, error] : others;
        if (next.length !== result.length || next.some((e, i) => e !== (result as readonly GraphQLError[])[i])) setResult(next);
      };
    },
  };
}

/** yoga's 413 ("Request body too large") reworded to name the limit; the connection is closed. */
function useBodyLimitMessage(maxBytes: number): Plugin {
  return {
    onResultProcess(payload) {
      const { result } = payload;
      if (Array.isArray(result) || !('errors' in result) || !result.errors) return;
      const before = result.errors;
      // The rest of the body is not read: Node closes the connection after the answer.
      const errors = before.map((e) =>
        e.extensions?.['code'] === 'REQUEST_ENTITY_TOO_LARGE'
          ? limitError('bodyBytes', maxBytes, 'The request body is too large', { status: 413, headers: { connection: 'close' } })
          : e,
      );
      if (errors.some((e, i) => e !== before[i])) payload.setResult({ ...result, errors });
    },
  };
}

/** Every per-operation limit, and the replay limit in the context; goes into yoga's `plugins`. */
export function useLimits(limits: Limits): Plugin<{ replayLimit?: number }> {
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(useArmor(limits));
      addPlugin(useCostLimit(limits.cost));
      addPlugin(useBodyLimitMessage(limits.bodyBytes));
      addPlugin(useLimitStatus());
    },
    onContextBuilding({ extendContext }) {
      extendContext({ replayLimit: limits.replay });
    },
  };
}

/**
 * Contract §5: a limit refusal is HTTP 400 whatever the client accepts. yoga marks validation
 * errors as the GraphQL-over-HTTP spec's, which answers a legacy `Accept: application/json`
 * client 200; a status on the result itself takes precedence, and yoga strips it from the body.
 */
function useLimitStatus(): Plugin {
  return {
    onResultProcess(payload) {
      const { result } = payload;
      if (Array.isArray(result) || !('errors' in result) || !result.errors) return;
      let status = 0;
      for (const e of result.errors) {
        const ext = e.extensions as { code?: unknown; http?: { status?: number } } | undefined;
        if (ext?.code === LIMIT_EXCEEDED) status = Math.max(status, ext.http?.status ?? 400);
      }
      if (status > 0) payload.setResult({ ...result, extensions: { ...result.extensions, http: { status } } });
    },
  };
}

/** Options for the WebSocketServer: a bigger message closes the socket with 1009 (Message Too Big). */
export function webSocketLimits(limits: Limits): { maxPayload: number } {
  return { maxPayload: limits.wsMessageBytes };
}

/**
 * For graphql-ws's onSubscribe: an error for an operation past the socket's limit, or null.
 * graphql-ws has already entered the new operation in `subscriptions` when onSubscribe runs.
 */
export function subscriptionLimitErrors(subscriptions: Record<string, unknown>, limits: Limits): GraphQLError[] | null {
  const open = Object.keys(subscriptions).length;
  if (open <= limits.subscriptionsPerSocket) return null;
  return [
    limitError(
      'subscriptionsPerSocket',
      limits.subscriptionsPerSocket,
      `This WebSocket already has ${open - 1} operations open; complete one first, or open another WebSocket`,
    ),
  ];
}

/**
 * A message over `maxPayload` is a client's doing, not a server fault: it gets one log line
 * instead of graphql-ws's "Internal error emitted on a WebSocket socket" with a stack. Other
 * socket errors still reach graphql-ws's handler. Call after `useServer` has attached it.
 */
export function quietOversizedMessages(wss: WebSocketServer, logger: Logger, limits: Limits): void {
  wss.on('connection', (socket) => {
    const handlers = socket.listeners('error') as ((err: Error) => void)[];
    socket.removeAllListeners('error');
    socket.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        logger.info(
          `[api] closed a WebSocket (1009): a message over ${limits.wsMessageBytes} bytes (${LIMIT_VARIABLES.wsMessageBytes})`,
        );
        return;
      }
      for (const handler of handlers) handler.call(socket, err);
    });
  });
}
