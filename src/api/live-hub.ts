import type { CompiledFilter } from '../domain/pattern-filter.js';
import type { AlertPubSub } from '../pubsub/pubsub.js';
import type { Detection, Topic, TopicValues } from '../schema/topics.js';
import { createEventStream, type EventStream, type SlowConsumerError } from './event-stream.js';

export interface LiveHub {
  /**
   * Every live message of `topic` that passes `accept`, queued for one subscriber; past the
   * queue limit the stream fails and `onOverflow` is called. With `routes` (values of one of the
   * topic's route kinds: a detection's symbols or tiers, a backtest's job id; see ROUTED_BY),
   * only messages whose value of that kind is among them are offered to `accept`: the caller
   * must not want any other.
   */
  stream<T extends Topic>(
    topic: T,
    accept: (m: TopicValues[T]) => boolean,
    onOverflow?: (error: SlowConsumerError) => void,
    routes?: Routes<T> | null,
  ): EventStream<TopicValues[T]>;
  /**
   * Calls `onValue` with every live message of `topic` (after the duplicate check), for a
   * consumer that fans out by itself (`myAlerts`); returns the function that stops it.
   */
  listen<T extends Topic>(topic: T, onValue: (m: TopicValues[T]) => void): () => void;
  /** Open subscriber streams on this process. */
  subscriberCount(): number;
  close(): void;
}

export interface LiveHubOptions {
  pubsub: AlertPubSub;
  /** Per-subscriber bound on queued, undelivered events. */
  queueLimit: number;
  /** How many recent detection ids to remember, to drop one published twice. */
  dedupWindow?: number;
}

const TOPICS: Topic[] = ['patternAlert', 'backtestProgress', 'backtestResult', 'systemHealth', 'watchlistsChanged'];

/**
 * The values a topic's messages are routed by, by kind. A subscriber that wants only some values
 * of one kind is filed under them and never offered another's message: a thousand subscribers of
 * one symbol (or of one tier) each cost a detection one map lookup per kind and the predicates of
 * that symbol's (tier's) subscribers, not a thousand predicate calls. A subscriber is filed under
 * one kind only, so a message reaches it through one route at most: never twice.
 */
const ROUTED_BY = {
  patternAlert: { symbol: (d) => d.symbol, tier: (d) => d.tier },
  backtestProgress: { jobId: (m) => m.jobId },
  backtestResult: { jobId: (m) => m.jobId },
} satisfies { [T in Topic]?: Record<string, (m: TopicValues[T]) => string> };

type RouteKinds = typeof ROUTED_BY;
/** What a subscriber of `T` is filed under: the values of one of its route kinds. */
export type Routes<T extends Topic> = T extends keyof RouteKinds
  ? { by: keyof RouteKinds[T] & string; values: Iterable<string> }
  : never;

const routeKinds = (topic: Topic): [kind: string, valueOf: (m: unknown) => string][] =>
  Object.entries((ROUTED_BY as Partial<Record<Topic, Record<string, (m: never) => string>>>)[topic] ?? {}) as [
    string,
    (m: unknown) => string,
  ][];

/**
 * The routes of a `patternAlert` subscriber with this filter: its symbols if it names any (the
 * narrower), else its tiers, else none (offered every detection).
 */
export function detectionRoutes(filter: CompiledFilter): Routes<'patternAlert'> | null {
  if (filter.symbols) return { by: 'symbol', values: filter.symbols };
  if (filter.tiers) return { by: 'tier', values: filter.tiers };
  return null;
}

type Listener = { accept: (m: never) => boolean; stream: EventStream<unknown> };
/** Where a listener is filed: a route kind and its values, deduplicated (none: every message). */
type Filed = { by: string; values: string[] } | null;

/** One topic's subscribers: all of them, those who want every message, and those filed by route. */
class Listeners {
  readonly all = new Set<Listener>();
  readonly everyone = new Set<Listener>();
  /** Route kind → value → listeners. */
  readonly byRoute = new Map<string, Map<string, Set<Listener>>>();

  add(listener: Listener, filed: Filed): void {
    this.all.add(listener);
    if (!filed) {
      this.everyone.add(listener);
      return;
    }
    let byValue = this.byRoute.get(filed.by);
    if (!byValue) this.byRoute.set(filed.by, (byValue = new Map<string, Set<Listener>>()));
    for (const value of filed.values) {
      let set = byValue.get(value);
      if (!set) byValue.set(value, (set = new Set()));
      set.add(listener);
    }
  }

  remove(listener: Listener, filed: Filed): void {
    this.all.delete(listener);
    if (!filed) {
      this.everyone.delete(listener);
      return;
    }
    const byValue = this.byRoute.get(filed.by);
    for (const value of filed.values) {
      const set = byValue?.get(value);
      set?.delete(listener);
      if (set?.size === 0) byValue!.delete(value);
    }
  }
}

/**
 * Detections that arrived live (through a hub's Redis subscription), as opposed to rows a
 * replay read from the database: only these are delivery-latency samples (contract §8). One
 * entry per event, not per subscriber; an event leaves with the last reference to it.
 */
const liveDetections = new WeakSet<object>();

/**
 * The `storedAt` (ms) of a detection a hub received live, or of the one a live `myAlerts` Alert
 * carries (./alert-router.ts); undefined for anything else (replays included).
 */
export function liveStoredAt(event: unknown): number | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const detection = liveDetections.has(event) ? event : (event as { detection?: unknown }).detection;
  return typeof detection === 'object' && detection !== null && liveDetections.has(detection)
    ? (detection as Detection).storedAt.getTime()
    : undefined;
}

/**
 * One Redis subscription per topic for the whole process, fanned out in memory. Filters run
 * here, before any GraphQL execution: a detection nobody asked for costs one predicate call per
 * subscriber of every symbol, and one map lookup for all those who named their symbols. A
 * detection id seen before (a writer died after publishing, before moving the publication
 * cursor, and the next one published it again) is dropped once for everyone.
 */
export async function createLiveHub({ pubsub, queueLimit, dedupWindow = 50_000 }: LiveHubOptions): Promise<LiveHub> {
  const listeners = new Map<Topic, Listeners>(TOPICS.map((t) => [t, new Listeners()]));
  const kinds = new Map(TOPICS.map((t) => [t, routeKinds(t)]));
  const consumers = new Map<Topic, Set<(m: never) => void>>(TOPICS.map((t) => [t, new Set()]));
  const seen = new Set<string>();

  const offer = (set: Iterable<Listener>, message: unknown) => {
    for (const l of set) if ((l.accept as (m: unknown) => boolean)(message)) l.stream.push(message);
  };
  const dispatch = (topic: Topic, message: unknown) => {
    const subscribers = listeners.get(topic)!;
    offer(subscribers.everyone, message);
    for (const [kind, valueOf] of kinds.get(topic)!) {
      const routed = subscribers.byRoute.get(kind)?.get(valueOf(message));
      if (routed) offer(routed, message);
    }
    for (const consume of consumers.get(topic) ?? []) (consume as (m: unknown) => void)(message);
  };

  const subscriptionIds = await Promise.all(
    TOPICS.map((topic) =>
      pubsub.subscribe(topic, (message) => {
        if (topic === 'patternAlert') {
          const detection = message as TopicValues['patternAlert'];
          const id = detection.id.toString();
          if (seen.has(id)) return;
          seen.add(id);
          // Sets iterate in insertion order: the first entry is the oldest.
          if (seen.size > dedupWindow) seen.delete(seen.values().next().value as string);
          // A worker older than the storedAt field sends none (decoded as null): no sample then.
          if (detection.storedAt instanceof Date) liveDetections.add(detection);
        }
        dispatch(topic, message);
      }),
    ),
  );

  return {
    stream(topic, accept, onOverflow, routes) {
      const subscribers = listeners.get(topic)!;
      // Routes only of a kind the topic has (others could never be matched), and not none: like
      // a filter's empty list, no values means any.
      const values = routes && kinds.get(topic)!.some(([kind]) => kind === routes.by) ? [...new Set(routes.values)] : [];
      const filed: Filed = routes && values.length > 0 ? { by: routes.by, values } : null;
      const listener: Listener = {
        accept: accept,
        stream: createEventStream<unknown>({
          limit: queueLimit,
          onClose: () => subscribers.remove(listener, filed),
          onOverflow,
        }),
      };
      subscribers.add(listener, filed);
      return listener.stream as EventStream<TopicValues[typeof topic]>;
    },
    listen(topic, onValue) {
      const set = consumers.get(topic)!;
      set.add(onValue);
      return () => set.delete(onValue);
    },
    subscriberCount: () => [...listeners.values()].reduce((n, s) => n + s.all.size, 0),
    close() {
      for (const id of subscriptionIds) pubsub.unsubscribe(id);
      for (const subscribers of listeners.values()) for (const l of subscribers.all) l.stream.end();
    },
  };
}
