/**
 * The API's metrics (contract §8), counted where the API sees them:
 * - `patternwire_subscriptions{field}` while a subscription is open, and
 *   `patternwire_delivery_latency_seconds` for every live detection whose frame has been written
 *   to a subscriber's socket: from the shared subscription execution (./shared-execution.ts), the
 *   one place every subscription's stream passes, over graphql-ws and SSE alike;
 * - `patternwire_websocket_connections` (`countWebSockets`);
 * - GraphQL operations, through `@graphql-yoga/plugin-prometheus` (`useGraphqlMetrics`).
 */
import { getOperationAST, Kind, type DocumentNode, type ExecutionArgs, type SelectionSetNode } from 'graphql';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import type { Plugin } from 'graphql-yoga';
import type { WebSocketServer } from 'ws';
import { deliveryLatency, registry, subscriptions, websocketConnections } from '../metrics/metrics.js';
import { liveStoredAt } from './live-hub.js';

export interface SubscriptionTracker {
  /**
   * `event` (the source event, before execution) has been delivered: its frame is written. The
   * transport asks for the next event only once the previous frame's write has completed
   * (graphql-ws awaits each `send`), so the stream calls this at its next `next()`.
   */
  delivered(event: unknown): void;
  /** The subscription ended (completed, returned, failed): called once. */
  closed(): void;
}

export interface SubscriptionObserver {
  opened(args: ExecutionArgs): SubscriptionTracker;
}

/** Hot path: once per frame. No allocation; a WeakSet lookup, a clock read and a typed-array increment. */
function observeDelivery(event: unknown): void {
  const storedAt = liveStoredAt(event);
  if (storedAt !== undefined) deliveryLatency.observe(Math.max(0, Date.now() - storedAt) / 1000);
}

export function subscriptionMetrics(): SubscriptionObserver {
  const gauges = new Map<string, { inc(): void; dec(): void }>();
  const gaugeOf = (field: string) => {
    let gauge = gauges.get(field);
    if (!gauge) gauges.set(field, (gauge = subscriptions.labels(field)));
    return gauge;
  };
  return {
    opened(args) {
      const gauge = gaugeOf(rootField(args.document, args.operationName) ?? 'unknown');
      gauge.inc();
      return { delivered: observeDelivery, closed: () => gauge.dec() };
    },
  };
}

/**
 * The root field of a subscription (validation allows exactly one), through fragments if the
 * operation selects it in one. Names come from the schema, so the label's values are bounded.
 */
export function rootField(document: DocumentNode, operationName?: string | null): string | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const visit = (set: SelectionSetNode, depth: number): string | null => {
    if (depth > 10) return null;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) return selection.name.value;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const found = visit(selection.selectionSet, depth + 1);
        if (found) return found;
      } else {
        const fragment = document.definitions.find(
          (d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value,
        );
        const found = fragment?.kind === Kind.FRAGMENT_DEFINITION ? visit(fragment.selectionSet, depth + 1) : null;
        if (found) return found;
      }
    }
    return null;
  };
  return visit(operation.selectionSet, 0);
}

/** `patternwire_websocket_connections`: up on each upgrade, down when that socket closes. */
export function countWebSockets(wss: WebSocketServer): void {
  wss.on('connection', (socket) => {
    websocketConnections.inc();
    socket.once('close', () => websocketConnections.dec());
  });
}

/**
 * GraphQL operation metrics from yoga's Prometheus plugin, in Patternwire's registry
 * (`graphql_envelop_request`, `graphql_envelop_request_duration`, `graphql_envelop_phase_*`,
 * `graphql_envelop_error_result`, `graphql_yoga_http_duration`), by `operationType`.
 *
 * - No `operationName`, `url` or error `path` label: a client chooses those (a path carries list
 *   indexes), so each would let any client grow the API's memory and Prometheus's series without
 *   bound.
 * - Queries and mutations only (phase `execute`): counted at the `subscribe` phase, the plugin
 *   would wrap every subscription's stream and run per event per subscriber, and would measure a
 *   subscription's lifetime as its "duration". Subscriptions have `patternwire_subscriptions`.
 * - No summary (quantiles cannot be added up across processes) and no deprecated-field walk of
 *   every document (the schema has no deprecated fields).
 * - The plugin serves no endpoint: `/metrics` is the API's own, behind the ADMIN check.
 */
export function useGraphqlMetrics(): Plugin {
  return usePrometheus({
    registry,
    endpoint: false,
    labels: { operationName: false, url: false, path: false },
    metrics: {
      graphql_envelop_request: ['execute'],
      graphql_envelop_request_duration: ['execute'],
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_parse: true,
      graphql_envelop_phase_validate: true,
      graphql_envelop_phase_context: true,
      graphql_envelop_phase_execute: true,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_error_result: ['parse', 'validate', 'context', 'execute'],
      graphql_envelop_deprecated_field: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_execute_resolver: false,
      graphql_yoga_http_duration: true,
    },
  });
}
