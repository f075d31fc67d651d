/**
 * A small client for `patternAlert` that never misses one: it remembers the last detection id
 * it delivered and, whenever the connection drops or the server ends the subscription, opens a
 * new one with `after` set to that id, with exponential backoff (the loop in ./resuming.ts). It depends only on the
 * graphql-ws client, so it runs in Node (pass `webSocketImpl: WebSocket` from `ws`) and in
 * browsers (global WebSocket).
 */
import { startResuming, type ConnectionState, type ResumingOptions, type Session } from './resuming.js';
import type { PatternFilterOf } from '../schema/filter.js';

/** The `PatternFilter` variable as sent: dates as ISO-8601 strings. */
export type PatternFilterInput = PatternFilterOf<string>;

export interface Alert {
  id: string;
  [field: string]: unknown;
}

export type AlertClientState = ConnectionState;

export interface AlertClientOptions extends ResumingOptions {
  filter?: PatternFilterInput;
  /**
   * Start after this id (replaying what is stored after it). Null or absent means "from now":
   * the client reads the newest stored id first and continues from it.
   */
  after?: string | null;
  /** The fields to select; must include `id`. */
  selection?: string;
  onAlert(alert: Alert): void;
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
  const query = `subscription PatternAlerts($filter: PatternFilter, $after: ID) {
    patternAlert(filter: $filter, after: $after) { ${o.selection ?? DEFAULT_SELECTION} }
  }`;
  let lastId: string | null = o.after ?? null;

  function run(session: Session) {
    const subscribe = () =>
      session.subscribe<{ patternAlert: Alert }>(
        { query, variables: { filter: o.filter ?? null, after: lastId } },
        {
          next: (result) => {
            // The server rejected the subscription itself (bad input): retrying cannot help.
            if (result.errors?.length) return session.stop(result.errors);
            const alert = result.data?.patternAlert;
            if (!alert) return;
            session.healthy();
            // Replay is oldest first and live follows in id order; never move the cursor back.
            if (lastId === null || BigInt(alert.id) > BigInt(lastId)) lastId = alert.id;
            o.onAlert(alert);
          },
          error: session.failed,
          // The server ended the subscription (e.g. shutting down): resume.
          complete: session.ended,
        },
      );

    if (lastId !== null) {
      subscribe();
      return;
    }
    // Live only: start from the newest stored id rather than from "whenever the server
    // registers the subscription", so a reconnect before the first alert still resumes exactly.
    let head: string | null = null;
    session.subscribe<{ patterns: { nodes: { id: string }[] } }>(
      { query: '{ patterns(first: 1) { nodes { id } } }' },
      {
        next: (result) => {
          head = result.data?.patterns.nodes[0]?.id ?? '0';
        },
        error: session.failed,
        complete: () => {
          if (head === null) return session.ended();
          lastId = head;
          subscribe();
        },
      },
    );
  }

  const connection = startResuming(o, run);
  return {
    lastId: () => lastId,
    state: () => connection.state(),
    close: () => connection.close(),
  };
}
