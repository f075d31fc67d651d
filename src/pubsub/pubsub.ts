import { RedisPubSub } from 'graphql-redis-subscriptions';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/connections.js';
import type { Topic, TopicValues } from '../schema/topics.js';
import { decode, encode, type TopicMessages } from './messages.js';

export interface AlertPubSub {
  /** Publishes one value; only the topic's fields cross Redis (see `messages.ts`). */
  publish<T extends Topic>(topic: T, value: TopicValues[T]): Promise<void>;
  /** Calls `onValue` with every value of the topic, decoded once; resolves to an id for `unsubscribe`. */
  subscribe<T extends Topic>(topic: T, onValue: (value: TopicValues[T]) => void): Promise<number>;
  unsubscribe(id: number): void;
  /**
   * Calls `listener` each time the subscriber connection is back after a loss, once its
   * subscriptions are renewed: what was published meanwhile never arrived, so whoever keeps
   * state from messages (the alert router, the watchlists) reads it again. Returns the function
   * that stops it.
   */
  onReconnect(listener: () => void): () => void;
  close(): Promise<void>;
}

/**
 * graphql-redis-subscriptions over two dedicated connections, which it owns and closes (a subscriber connection can
 * issue nothing but (UN)SUBSCRIBE). Channel names carry `prefix`, so several deployments,
 * or test files, share one Redis without hearing each other.
 */
export function createPubSub(publisher: RedisClient, subscriber: RedisClient, prefix: string): AlertPubSub {
  const engine = new RedisPubSub({ publisher, subscriber });
  // Prefixed here rather than with `triggerTransform`, which the engine applies to
  // subscribe but not to publish.
  const channel = (topic: Topic) => `${prefix}.${topic}`;
  const publish = publisher instanceof Cluster ? publishInOrderOnCluster(publisher) : null;
  const reconnectListeners = new Set<() => void>();
  let lost = false;
  subscriber.on('close', () => (lost = true));
  subscriber.on('ready', () => {
    if (!lost) return;
    lost = false;
    // ioredis sends the renewed SUBSCRIBEs as it becomes ready, before this PING: once the PING
    // is answered, so are they, and a message published from then on arrives.
    void subscriber
      .ping()
      .catch(() => undefined)
      .then(() => {
        for (const listener of reconnectListeners) listener();
      });
  });
  return {
    publish: (topic, value) => {
      const message = encode(topic, value);
      return publish ? publish(channel(topic), JSON.stringify(message)) : engine.publish(channel(topic), message);
    },
    subscribe: (topic, onValue) =>
      engine.subscribe(channel(topic), (message: TopicMessages[typeof topic]) => onValue(decode(topic, message))),
    unsubscribe: (id) => engine.unsubscribe(id),
    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
    async close() {
      // QUIT is a command: with Redis gone it would wait for a reconnect (on the subscriber
      // connection, forever). Then just drop the connections.
      if (publisher.status === 'ready' && subscriber.status === 'ready') await engine.close();
      else for (const client of [publisher, subscriber]) client.disconnect();
    },
  };
}

/**
 * A cluster client sends a keyless PUBLISH to a random node, and messages published on
 * different nodes reach a subscriber's node over different cluster-bus links, so they
 * overtake each other (backtest progress, detections in id order). Publishing through a
 * one-line script that names the channel as its key routes every message of a channel through
 * the master that owns the channel's slot: one node, one link, the order it was sent in.
 */
function publishInOrderOnCluster(cluster: Cluster): (channel: string, message: string) => Promise<void> {
  cluster.defineCommand('patternwirePublish', { numberOfKeys: 1, lua: "return redis.call('PUBLISH', KEYS[1], ARGV[1])" });
  const send = (
    cluster as unknown as { patternwirePublish(channel: string, message: string): Promise<number> }
  ).patternwirePublish.bind(cluster);
  return async (channel, message) => {
    await send(channel, message);
  };
}
