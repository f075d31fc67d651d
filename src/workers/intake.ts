import { createHash } from 'node:crypto';
import type { Channels } from '../config/env.js';
import type { Logger } from '../runtime/logger.js';
import { MAX_MESSAGE_BYTES, type ChannelKind, type InboundEvent, type RejectedMessage } from '../schema/events.js';
import { parseInbound } from '../schema/inbound.js';
import { jobIdFor, type Queues } from './queues.js';

export interface IntakeStats {
  received: number;
  accepted: number;
  rejected: number;
  /** Messages that could not be enqueued even after retries (the producer's Redis was down). */
  dropped: number;
}

export interface Intake {
  /** The channels it knows, by name. */
  kindOf(channel: string): ChannelKind | undefined;
  /**
   * Parses one message and enqueues it as one job whose id is the dedup key, so the same
   * message heard twice (a second ingest replica, a publisher retry, pub/sub and a stream)
   * is one job. A rejected message becomes a `rejected` job. Resolves true once enqueued.
   */
  accept(channel: string, raw: Buffer): Promise<boolean>;
  stats(): IntakeStats;
}

const ENQUEUE_ATTEMPTS = 5;

export function createIntake({ queues, channels, logger }: { queues: Queues; channels: Channels; logger: Logger }): Intake {
  const kindByChannel = new Map<string, ChannelKind>([
    [channels.patterns, 'pattern'],
    [channels.backtestProgress, 'backtestProgress'],
    [channels.backtestResults, 'backtestResult'],
    [channels.health, 'health'],
  ]);
  const stats: IntakeStats = { received: 0, accepted: 0, rejected: 0, dropped: 0 };

  function enqueue(event: InboundEvent | RejectedMessage): Promise<unknown> {
    const jobId = jobIdFor(event.kind, event.eventId);
    // Patterns and rejects share the detections queue; ordered kinds go to control.
    return event.kind === 'pattern' || event.kind === 'rejected'
      ? queues.detections.add(event.kind, event, { jobId })
      : queues.control.add(event.kind, event, { jobId });
  }

  return {
    kindOf: (channel) => kindByChannel.get(channel),
    stats: () => ({ ...stats }),
    async accept(channel, raw) {
      const kind = kindByChannel.get(channel);
      if (!kind) return false;
      stats.received++;
      const receivedAt = new Date();
      const parsed = parseInbound(kind, raw, receivedAt);
      let job: InboundEvent | RejectedMessage;
      if (parsed.ok) {
        stats.accepted++;
        job = parsed.event;
      } else {
        stats.rejected++;
        job = rejection(channel, raw, parsed.reason, receivedAt);
      }
      try {
        await withRetries(() => enqueue(job), ENQUEUE_ATTEMPTS);
        return true;
      } catch (err) {
        stats.dropped++;
        logger.error(`[ingest] could not enqueue ${jobIdFor(job.kind, job.eventId)} after ${ENQUEUE_ATTEMPTS} attempts: ${(err as Error).message}`);
        return false;
      }
    },
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
