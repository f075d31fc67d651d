/**
 * The connection loop the client helpers share: a graphql-ws client per connection, reconnected
 * with capped exponential backoff and jitter whenever the socket drops or the server ends the
 * subscription, until `close()` or an error retrying cannot cure (a GraphQL error, or 4403 for
 * a refused credential). Each helper says what to do on a fresh connection (`run`) and keeps its
 * own position, so every reconnect resumes where the last one stopped.
 */
import { createClient, type Client } from 'graphql-ws';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface ResumingOptions {
  /** ws:// or wss:// URL of `/graphql`. */
  url: string;
  /**
   * The API token or JWT (contract §5), sent as `connectionParams.authorization`. A function is
   * asked again on every reconnect, so a host application can hand over a renewed JWT.
   */
  credential?: string | (() => string | Promise<string>);
  /** `WebSocket` from `ws` in Node; browsers have their own. */
  webSocketImpl?: unknown;
  onStateChange?(state: ConnectionState): void;
  /** An error retrying cannot cure (the server refused the subscription or the credential): the client stops. */
  onError?(error: unknown): void;
  backoff?: { initialMs?: number; maxMs?: number };
}

/** One connection, as `run` sees it. */
export interface Session {
  /**
   * `client.subscribe`, remembered so that `close()` ends the operation before disposing the
   * client (graphql-ws would otherwise still send a subscribe it had queued, on a socket that
   * dispose() just closed; a browser logs that as an error). Nothing is sent once closed.
   */
  subscribe: Client['subscribe'];
  /** Call on each result: the connection works, so the next failure starts the backoff afresh. */
  healthy: () => void;
  /** Sink for a subscription's `error`: stops on what retrying cannot cure, reconnects otherwise. */
  failed: (error: unknown) => void;
  /** Sink for a subscription's `complete` (the server ended it): reconnects. */
  ended: () => void;
  /** Stops for good, reporting `error`. */
  stop: (error: unknown) => void;
}

export interface Resuming {
  state(): ConnectionState;
  /** The open connection, if any. */
  client(): Client | null;
  close(): Promise<void>;
}

/** graphql-ws's Forbidden close: no, a bad, a revoked or an expired credential. */
export const FORBIDDEN_CLOSE_CODE = 4403;

/** GraphQL errors (an invalid selection, a bad argument) and a refused credential: retrying cannot help. */
export function isFatal(err: unknown): boolean {
  return (
    Array.isArray(err) || (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === FORBIDDEN_CLOSE_CODE)
  );
}

export function startResuming(o: ResumingOptions, run: (session: Session) => void): Resuming {
  const initialMs = o.backoff?.initialMs ?? 100;
  const maxMs = o.backoff?.maxMs ?? 5_000;
  let state: ConnectionState = 'connecting';
  let closed = false;
  let attempt = 0;
  let current: Client | null = null;
  /** Ends the operations open on `current`. */
  const operations = new Set<() => void>();
  let retryTimer: ReturnType<typeof setTimeout> | null = null;

  const setState = (s: ConnectionState) => {
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
    const client = createClient({
      url: o.url,
      webSocketImpl: o.webSocketImpl,
      lazy: false,
      // This loop owns reconnection, so each new socket starts from the helper's newest position.
      retryAttempts: 0,
      keepAlive: 10_000,
      // The subscription's error sink handles a failed or closed socket; graphql-ws's default
      // for a non-lazy client would also console.error every failed attempt.
      onNonLazyError: () => undefined,
      on: { connected: () => setState('live') },
      connectionParams: async () => {
        const credential = typeof o.credential === 'function' ? await o.credential() : o.credential;
        return credential ? { authorization: `Bearer ${credential}` } : {};
      },
    });
    current = client;
    let finished = false;
    const finish = (reconnect: boolean, error?: unknown) => {
      if (finished) return;
      finished = true;
      void client.dispose();
      if (current === client) {
        current = null;
        operations.clear();
      }
      if (error !== undefined) o.onError?.(error);
      if (reconnect) scheduleReconnect();
      else setState('closed');
    };
    run({
      subscribe: (payload, sink) => {
        if (closed) return () => undefined;
        const end = client.subscribe(payload, sink);
        operations.add(end);
        return () => {
          operations.delete(end);
          end();
        };
      },
      healthy: () => void (attempt = 0),
      failed: (err) => (isFatal(err) ? finish(false, err) : finish(true)),
      ended: () => finish(true),
      stop: (err) => finish(false, err),
    });
  }

  connect();

  return {
    state: () => state,
    client: () => current,
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const c = current;
      current = null;
      setState('closed');
      for (const end of [...operations]) end();
      operations.clear();
      await c?.dispose();
    },
  };
}
