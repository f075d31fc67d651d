import { RedisPubSub } from 'graphql-redis-subscriptions';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/connections.js';
import type { BacktestJobRow } from '../db/backtests.js';
import type { DetectionRow } from '../db/detection-store.js';
import type { PublisherHealthRow } from '../db/publisher-health.js';

/** What crosses Redis: JSON, so every Date arrives as an ISO string. */
export type Wire<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };

export type DetectionMessage = Wire<DetectionRow>;
export type BacktestProgressMessage = Wire<
  Pick<BacktestJobRow, 'jobId' | 'progress' | 'currentSymbol' | 'processedSymbols' | 'estimatedCompletion'> & {
    status: string;
    at: Date;
  }
>;
export type BacktestResultMessage = Wire<
  Pick<BacktestJobRow, 'jobId' | 'results' | 'processingTimeSeconds'> & { status: string; at: Date }
>;
export type PublisherHealthMessage = Wire<Pick<PublisherHealthRow, 'status' | 'source' | 'metrics' | 'at'>>;

export interface TopicMessages {
  patternAlert: DetectionMessage;
  backtestProgress: BacktestProgressMessage;
  backtestResult: BacktestResultMessage;
  systemHealth: PublisherHealthMessage;
}
export type Topic = keyof TopicMessages;

export interface AlertPubSub {
  publish<T extends Topic>(topic: T, message: TopicMessages[T]): Promise<void>;
  /** Calls `onMessage` for every message on the topic; resolves to an id for `unsubscribe`. */
  subscribe<T extends Topic>(topic: T, onMessage: (message: TopicMessages[T]) => void): Promise<number>;
  unsubscribe(id: number): void;
  close(): Promise<void>;
}

/** Shallow Date → ISO string, the shape a subscriber receives. */
export function toWire<T extends object>(value: T): Wire<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = v instanceof Date ? v.toISOString() : v;
  return out as Wire<T>;
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
  return {
    publish: (topic, message) =>
      publish ? publish(channel(topic), JSON.stringify(message)) : engine.publish(channel(topic), message),
    subscribe: (topic, onMessage) => engine.subscribe(channel(topic), onMessage),
    unsubscribe: (id) => engine.unsubscribe(id),
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
  const send = (cluster as unknown as { patternwirePublish(channel: string, message: string): Promise<number> }).patternwirePublish.bind(cluster);
  return async (channel, message) => {
    await send(channel, message);
  };
}
