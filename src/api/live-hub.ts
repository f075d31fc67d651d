import type { AlertPubSub } from '../pubsub/pubsub.js';
import type { Detection, Topic, TopicValues } from '../schema/topics.js';
import { createEventStream, type EventStream, type SlowConsumerError } from './event-stream.js';

export interface LiveHub {
  /**
   * Every live message of `topic` that passes `accept`, queued for one subscriber; past the
   * queue limit the stream fails and `onOverflow` is called.
   */
  stream<T extends Topic>(
    topic: T,
    accept: (m: TopicValues[T]) => boolean,
    onOverflow?: (error: SlowConsumerError) => void,
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
 * here, before any GraphQL execution, so a detection nobody asked for costs one predicate
 * call per subscriber. A detection id seen before (a writer died after publishing, before moving
 * the publication cursor, and the next one published it again) is
 * dropped once for everyone.
 */
export async function createLiveHub({ pubsub, queueLimit, dedupWindow = 50_000 }: LiveHubOptions): Promise<LiveHub> {
  type Listener = { accept: (m: never) => boolean; stream: EventStream<unknown> };
  const listeners = new Map<Topic, Set<Listener>>(TOPICS.map((t) => [t, new Set()]));
  const consumers = new Map<Topic, Set<(m: never) => void>>(TOPICS.map((t) => [t, new Set()]));
  const seen = new Set<string>();

  const dispatch = (topic: Topic, message: unknown) => {
    for (const l of listeners.get(topic) ?? []) {
      if ((l.accept as (m: unknown) => boolean)(message)) l.stream.push(message);
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
    stream(topic, accept, onOverflow) {
      const set = listeners.get(topic)!;
      const listener: Listener = {
        accept: accept,
        stream: createEventStream<unknown>({ limit: queueLimit, onClose: () => set.delete(listener), onOverflow }),
      };
      set.add(listener);
      return listener.stream as EventStream<TopicValues[typeof topic]>;
    },
    listen(topic, onValue) {
      const set = consumers.get(topic)!;
      set.add(onValue);
      return () => set.delete(onValue);
    },
    subscriberCount: () => [...listeners.values()].reduce((n, s) => n + s.size, 0),
    close() {
      for (const id of subscriptionIds) pubsub.unsubscribe(id);
      for (const set of listeners.values()) for (const l of set) l.stream.end();
    },
  };
}
