/**
 * A client for `myAlerts` (contract §6): the server keeps the user's position, so this helper
 * keeps only the session's — the last alert it delivered — to drop what a reconnect's replay
 * sends again. With `acknowledge: 'on-display'` it also moves the user's position (for every
 * device of theirs) once the application has shown an alert: when `onAlert` has returned, or its
 * promise resolved, for that alert and every one before it. Acknowledgements go over the same
 * WebSocket, grouped (one mutation per `acknowledgeEveryMs` at most); one that cannot be sent is
 * sent on the next connection, before subscribing again.
 */
import { startResuming, type ConnectionState, type ResumingOptions, type Session } from './resuming.js';

export interface MyAlert {
  detection: { id: string; [field: string]: unknown };
  watchlists: { id: string; name: string }[];
  replayed: boolean;
}

export interface MyAlertsClientOptions extends ResumingOptions {
  /** The detection's fields to select; must include `id`. */
  detectionSelection?: string;
  /**
   * `manual` (the default): call `acknowledge()`. `on-display`: every alert once `onAlert` is
   * done with it (returned, or its promise settled; one that throws is reported to `onError`
   * and counts as done).
   */
  acknowledge?: 'manual' | 'on-display';
  /** The most often an acknowledgement is sent (default 1,000 ms). */
  acknowledgeEveryMs?: number;
  onAlert(alert: MyAlert): void | Promise<void>;
}

export interface MyAlertsClient {
  /** Moves the user's position to `upTo` (default: the last alert delivered); resolves once the server has it. */
  acknowledge(upTo?: string): Promise<void>;
  /** The id of the last alert delivered in this session. */
  lastId(): string | null;
  state(): ConnectionState;
  /** Sends what is still to be acknowledged (waiting at most `timeoutMs`), then closes. */
  close(timeoutMs?: number): Promise<void>;
}

const DEFAULT_DETECTION =
  'id eventId symbol pattern confidence tier priority timeframe category price detectedAt receivedAt expiresAt source metadata';

const ACKNOWLEDGE = 'mutation Acknowledge($upTo: ID!) { acknowledgeAlerts(upTo: $upTo) { lastAcknowledgedId } }';

const newer = (a: string, b: string | null) => b === null || BigInt(a) > BigInt(b);

export function createMyAlertsClient(o: MyAlertsClientOptions): MyAlertsClient {
  const query = `subscription MyAlerts {
    myAlerts { detection { ${o.detectionSelection ?? DEFAULT_DETECTION} } watchlists { id name } replayed }
  }`;
  let lastId: string | null = null;
  /** The highest id the server confirmed, and the highest asked for. */
  let acknowledged: string | null = null;
  let wanted: string | null = null;
  let sending: Promise<void> | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const waiters: { upTo: string; resolve(): void }[] = [];
  /** Delivered alerts, oldest first, until shown (on-display). */
  const shown: { id: string; done: boolean }[] = [];

  /** Sends `wanted` if the server does not have it yet; one mutation at a time. */
  function flush(): Promise<void> {
    if (sending || wanted === null || !newer(wanted, acknowledged)) return sending ?? Promise.resolve();
    const client = connection.client();
    if (!client) return Promise.resolve(); // sent on the next connection
    const upTo = wanted;
    sending = new Promise<void>((resolve) => {
      let ok = false;
      client.subscribe(
        { query: ACKNOWLEDGE, variables: { upTo } },
        {
          next: (r) => void (ok = !r.errors?.length),
          error: () => resolve(),
          complete: () => {
            if (ok && newer(upTo, acknowledged)) acknowledged = upTo;
            resolve();
          },
        },
      );
    }).finally(() => {
      sending = null;
      for (const w of waiters.filter((w) => acknowledged !== null && !newer(w.upTo, acknowledged))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      // Asked for more meanwhile: send that too (at once if someone waits for it).
      if (wanted !== null && newer(wanted, acknowledged)) {
        if (waiters.length) void flush();
        else schedule();
      }
    });
    return sending;
  }

  function schedule() {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      void flush();
    }, o.acknowledgeEveryMs ?? 1_000);
  }

  function want(upTo: string) {
    if (newer(upTo, wanted)) wanted = upTo;
  }

  /** On display: acknowledge up to the newest alert with every earlier one shown too. */
  function markShown(id: string) {
    const entry = shown.find((s) => s.id === id);
    if (entry) entry.done = true;
    let upTo: string | null = null;
    while (shown[0]?.done) upTo = shown.shift()!.id;
    if (upTo !== null) {
      want(upTo);
      schedule();
    }
  }

  function run(session: Session) {
    // What could not be sent before goes first, so this subscription's replay leaves it out.
    const subscribe = () =>
      session.subscribe<{ myAlerts: MyAlert }>(
        { query },
        {
          next: (result) => {
            if (result.errors?.length) return session.stop(result.errors);
            const alert = result.data?.myAlerts;
            if (!alert) return;
            session.healthy();
            // A reconnect replays what this session already has: ids only grow, so skip those.
            if (!newer(alert.detection.id, lastId)) return;
            lastId = alert.detection.id;
            if (o.acknowledge !== 'on-display') {
              void o.onAlert(alert);
              return;
            }
            shown.push({ id: alert.detection.id, done: false });
            const id = alert.detection.id;
            // One that throws counts as shown (the application had its turn): otherwise it would
            // hold back every later acknowledgement. The error goes to onError.
            void Promise.resolve()
              .then(() => o.onAlert(alert))
              .catch((err: unknown) => o.onError?.(err))
              .then(() => markShown(id));
          },
          error: session.failed,
          complete: session.ended,
        },
      );
    if (wanted !== null && newer(wanted, acknowledged)) void flush().then(subscribe);
    else subscribe();
  }

  const connection = startResuming(o, run);

  return {
    acknowledge(upTo) {
      const id = upTo ?? lastId;
      if (id === null) return Promise.resolve();
      want(id);
      const done = new Promise<void>((resolve) => {
        if (acknowledged !== null && !newer(id, acknowledged)) return resolve();
        waiters.push({ upTo: id, resolve });
      });
      void flush();
      return done;
    },
    lastId: () => lastId,
    state: () => connection.state(),
    async close(timeoutMs = 2_000) {
      if (timer) clearTimeout(timer);
      timer = null;
      let timeout: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([flush(), new Promise<void>((r) => (timeout = setTimeout(r, timeoutMs)))]);
      clearTimeout(timeout);
      for (const w of waiters.splice(0)) w.resolve();
      await connection.close();
    },
  };
}
