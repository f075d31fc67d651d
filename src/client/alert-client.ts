/**
 * A small client for `patternAlert` that never misses one: it remembers the last detection id
 * it delivered and, whenever the connection drops or the server ends the subscription, opens a
 * new one with `after` set to that id, with exponential backoff. It depends only on the
 * graphql-ws client, so it runs in Node (pass `webSocketImpl: WebSocket` from `ws`) and in
 * browsers (global WebSocket).
 */
import { createClient, type Client } from 'graphql-ws';
import type { PatternFilterOf } from '../schema/filter.js';

/** The `PatternFilter` variable as sent: dates as ISO-8601 strings. */
export type PatternFilterInput = PatternFilterOf<string>;

export interface Alert {
  id: string;
  [field: string]: unknown;
}

export type AlertClientState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface AlertClientOptions {
  /** ws:// or wss:// URL of `/graphql`. */
  url: string;
  /**
   * The API token or JWT (contract §5), sent as `connectionParams.authorization`. A function is
   * asked again on every reconnect, so a host application can hand over a renewed JWT.
   */
  credential?: string | (() => string | Promise<string>);
  filter?: PatternFilterInput;
  /**
   * Start after this id (replaying what is stored after it). Null or absent means "from now":
   * the client reads the newest stored id first and continues from it.
   */
  after?: string | null;
  /** The fields to select; must include `id`. */
  selection?: string;
  webSocketImpl?: unknown;
  onAlert(alert: Alert): void;
  onStateChange?(state: AlertClientState): void;
  /** A subscription error the server reported (e.g. a bad filter): the client stops. */
  onError?(error: unknown): void;
  backoff?: { initialMs?: number; maxMs?: number };
}

export interface AlertClient {
  /** The id of the last alert delivered: where a new subscription resumes. */
  lastId(): string | null;
  state(): AlertClientState;
  close(): Promise<void>;
}

const DEFAULT_SELECTION =
  'id eventId symbol pattern confidence tier priority timeframe category price detectedAt receivedAt expiresAt source metadata';

export function createAlertClient(o: AlertClientOptions): AlertClient {
  const initialMs = o.backoff?.initialMs ?? 100;
  const maxMs = o.backoff?.maxMs ?? 5_000;
  const query = `subscription PatternAlerts($filter: PatternFilter, $after: ID) {
    patternAlert(filter: $filter, after: $after) { ${o.selection ?? DEFAULT_SELECTION} }
  }`;
  let lastId: string | null = o.after ?? null;
  let state: AlertClientState = 'connecting';
  let closed = false;
  let attempt = 0;
  let client: Client | null = null;
  /** Ends the operation open on `client` (the head query, then the subscription). */
  let unsubscribe: (() => void) | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;

  const setState = (s: AlertClientState) => {
    if (state === s) return;
    state = s;
    o.onStateChange?.(s);
  };

  function scheduleReconnect() {
    if (closed) return;
    setState('reconnecting');
    const delay = Math.min(initialMs * 2 ** attempt, maxMs) * (0.5 + Math.random() / 2);
    attempt++;
    retryTimer = setTimeout(connect, delay);
  }

  function connect() {
    retryTimer = null;
    if (closed) return;
    const current = createClient({
      url: o.url,
      webSocketImpl: o.webSocketImpl,
      lazy: false,
      // This client owns reconnection, so each new socket subscribes with the newest `after`.
      retryAttempts: 0,
      keepAlive: 10_000,
      // The subscription's error sink below handles a failed or closed socket; graphql-ws's
      // default for a non-lazy client would also console.error every failed attempt.
      onNonLazyError: () => undefined,
      on: { connected: () => setState('live') },
      connectionParams: async () => {
        const credential = typeof o.credential === 'function' ? await o.credential() : o.credential;
        return credential ? { authorization: `Bearer ${credential}` } : {};
      },
    });
    client = current;
    let finished = false;
    const finish = (reconnect: boolean, error?: unknown) => {
      if (finished) return;
      finished = true;
      void current.dispose();
      if (client === current) client = null;
      if (error !== undefined) o.onError?.(error);
      if (reconnect) scheduleReconnect();
      else setState('closed');
    };
    const subscribe = () => {
      if (closed) return;
      unsubscribe = current.subscribe<{ patternAlert: Alert }>(
        { query, variables: { filter: o.filter ?? null, after: lastId } },
        {
          next: (result) => {
            if (result.errors?.length) {
              // The server rejected the subscription itself (bad input): retrying cannot help.
              finish(false, result.errors);
              return;
            }
            const alert = result.data?.patternAlert;
            if (!alert) return;
            attempt = 0;
            // Replay is oldest first and live follows in id order; never move the cursor back.
            if (lastId === null || BigInt(alert.id) > BigInt(lastId)) lastId = alert.id;
            o.onAlert(alert);
          },
          // GraphQL errors (an invalid selection) and a refused credential (4403) cannot be cured
          // by retrying; anything else is the socket closing or failing: resume from the last id.
          error: (err) => (Array.isArray(err) || isForbidden(err) ? finish(false, err) : finish(true)),
          // The server ended the subscription (e.g. shutting down): resume too.
          complete: () => finish(true),
        },
      );
    };

    if (lastId !== null) {
      subscribe();
      return;
    }
    // Live only: start from the newest stored id rather than from "whenever the server
    // registers the subscription", so a reconnect before the first alert still resumes exactly.
    let head: string | null = null;
    unsubscribe = current.subscribe<{ patterns: { nodes: { id: string }[] } }>(
      { query: '{ patterns(first: 1) { nodes { id } } }' },
      {
        next: (result) => {
          head = result.data?.patterns.nodes[0]?.id ?? '0';
        },
        error: (err) => (Array.isArray(err) || isForbidden(err) ? finish(false, err) : finish(true)),
        complete: () => {
          if (finished) return;
          if (head === null) return finish(true);
          lastId = head;
          subscribe();
        },
      },
    );
  }

  connect();

  return {
    lastId: () => lastId,
    state: () => state,
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const c = client;
      client = null;
      setState('closed');
      // Ended before disposing: graphql-ws would otherwise still send a subscribe it had queued
      // on a socket that dispose() just closed (a browser logs that as an error).
      unsubscribe?.();
      unsubscribe = null;
      await c?.dispose();
    },
  };
}

/** graphql-ws's Forbidden close: no, a bad, a revoked or an expired credential. */
export const FORBIDDEN_CLOSE_CODE = 4403;

function isForbidden(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === FORBIDDEN_CLOSE_CODE;
}
