import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Channels } from '../config/env.js';
import type { Logger } from '../runtime/logger.js';
import { MAX_MESSAGE_BYTES, type ChannelKind, type InboundEvent, type RejectedMessage } from '../schema/events.js';
import { parseInbound } from '../schema/inbound.js';
import { jobIdFor, type Queues } from './queues.js';

export interface IngestStats {
  received: number;
  accepted: number;
  rejected: number;
  /** Messages that could not be enqueued even after retries (Redis down for the producer). */
  dropped: number;
}

export interface Ingest {
  start(): Promise<void>;
  /** Unsubscribes, then waits for every message already received to be enqueued. */
  stop(): Promise<void>;
  stats(): IngestStats;
}

export interface IngestOptions {
  /** An `ingest`-role connection, used for SUBSCRIBE only. */
  subscriber: Redis;
  queues: Queues;
  channels: Channels;
  logger: Logger;
}

const ENQUEUE_ATTEMPTS = 5;

/**
 * Hears the detection engine's channels and turns each message into one BullMQ job whose id
 * is the dedup key, so the same message heard twice (a second ingest replica, a publisher
 * retry) is one job. A rejected message becomes a `rejected` job: stored by a worker with
 * its reason, never retried, and never in the way of the next message.
 */
export function createIngest({ subscriber, queues, channels, logger }: IngestOptions): Ingest {
  const kindByChannel = new Map<string, ChannelKind>([
    [channels.patterns, 'pattern'],
    [channels.backtestProgress, 'backtestProgress'],
    [channels.backtestResults, 'backtestResult'],
    [channels.health, 'health'],
  ]);
  const stats: IngestStats = { received: 0, accepted: 0, rejected: 0, dropped: 0 };
  const inFlight = new Set<Promise<void>>();
  let listening = false;

  function enqueue(event: InboundEvent | RejectedMessage): Promise<void> {
    const jobId = jobIdFor(event.kind, event.eventId);
    // Patterns and rejects share the detections queue; ordered kinds go to control.
    const add = async (): Promise<unknown> =>
      event.kind === 'pattern' || event.kind === 'rejected'
        ? queues.detections.add(event.kind, event, { jobId })
        : queues.control.add(event.kind, event, { jobId });
    return withRetries(add, ENQUEUE_ATTEMPTS).then(
      () => undefined,
      (err: Error) => {
        stats.dropped++;
        logger.error(`[ingest] could not enqueue ${jobId} after ${ENQUEUE_ATTEMPTS} attempts: ${err.message}`);
      },
    );
  }

  function onMessage(channelBuf: Buffer, message: Buffer): void {
    const channel = channelBuf.toString();
    const kind = kindByChannel.get(channel);
    if (!kind) return;
    stats.received++;
    const receivedAt = new Date();
    const parsed = parseInbound(kind, message, receivedAt);
    let job: InboundEvent | RejectedMessage;
    if (parsed.ok) {
      stats.accepted++;
      job = parsed.event;
    } else {
      stats.rejected++;
      job = rejection(channel, message, parsed.reason, receivedAt);
    }
    const p = enqueue(job);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }

  return {
    async start() {
      subscriber.on('messageBuffer', onMessage);
      await subscriber.subscribe(...kindByChannel.keys());
      listening = true;
    },
    async stop() {
      if (listening) {
        listening = false;
        subscriber.off('messageBuffer', onMessage);
        await subscriber.unsubscribe().catch(() => undefined);
      }
      await Promise.allSettled([...inFlight]);
    },
    stats: () => ({ ...stats }),
  };
}

function rejection(channel: string, raw: Buffer, reason: string, receivedAt: Date): RejectedMessage {
  return {
    kind: 'rejected',
    eventId: createHash('sha256').update(channel).update('\0').update(raw).digest('hex'),
    channel,
    reason,
    payloadBase64: raw.subarray(0, MAX_MESSAGE_BYTES).toString('base64'),
    byteLength: raw.length,
    receivedAt: receivedAt.toISOString(),
  };
}

async function withRetries<T>(fn: () => Promise<T>, attempts: number): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 50 * 2 ** i));
    }
  }
}
