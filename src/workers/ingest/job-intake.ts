import { createHash } from 'node:crypto';
import type { Channels } from '../../config/env.js';
import type { Logger } from '../../lib/logger.js';
import { MAX_MESSAGE_BYTES, type ChannelKind, type InboundEvent, type PatternEvent, type RejectedMessage } from '../../schema/events.js';
import { parseInbound } from '../../domain/inbound.js';
import { jobIdFor, type Queues } from '../../queues/queues.js';

export interface JobIntakeStats {
  received: number;
  accepted: number;
  rejected: number;
  /** Messages that could not be enqueued even after retries (the producer's Redis was down). */
  dropped: number;
}

export interface JobIntake {
  /** The channels it knows, by name. */
  kindOf(channel: string): ChannelKind | undefined;
  /**
   * Parses one message and enqueues it. Detections are grouped: whatever arrives while the
   * previous `detections` job is being added goes into the next one (up to `maxEventsPerJob`), so
   * light traffic still travels one event per job and a flood costs one Redis round trip per
   * group. Other kinds are one job each, whose id is the dedup key; a rejected message becomes a
   * `rejected` job. Resolves true once its job is in Redis.
   */
  accept(channel: string, raw: Buffer): Promise<boolean>;
  stats(): JobIntakeStats;
}

export interface JobIntakeOptions {
  queues: Queues;
  channels: Channels;
  logger: Logger;
  /** Most detections in one job. */
  maxEventsPerJob?: number;
}

const ENQUEUE_ATTEMPTS = 5;

export function createJobIntake({ queues, channels, logger, maxEventsPerJob = 100 }: JobIntakeOptions): JobIntake {
  const kindByChannel = new Map<string, ChannelKind>([
    [channels.patterns, 'pattern'],
    [channels.backtestProgress, 'backtestProgress'],
    [channels.backtestResults, 'backtestResult'],
    [channels.health, 'health'],
  ]);
  const stats: JobIntakeStats = { received: 0, accepted: 0, rejected: 0, dropped: 0 };
  const grouping: { event: PatternEvent; enqueued(ok: boolean): void }[] = [];
  let adding = false;

  async function enqueueOrDrop(add: () => Promise<unknown>, what: string, events: number): Promise<boolean> {
    try {
      await withRetries(add, ENQUEUE_ATTEMPTS);
      return true;
    } catch (err) {
      stats.dropped += events;
      logger.error(`[ingest] could not enqueue ${what} after ${ENQUEUE_ATTEMPTS} attempts: ${(err as Error).message}`);
      return false;
    }
  }

  // One add in flight at a time keeps the groups in arrival order.
  async function addGroups(): Promise<void> {
    adding = true;
    while (grouping.length > 0) {
      const group = grouping.splice(0, maxEventsPerJob);
      const events = group.map((g) => g.event);
      const ok = await enqueueOrDrop(
        () => queues.detections.add('detections', { kind: 'detections', events }),
        `${events.length} detection(s) (first ${events[0]!.eventId})`,
        events.length,
      );
      for (const g of group) g.enqueued(ok);
    }
    adding = false;
  }

  function enqueue(event: Exclude<InboundEvent, PatternEvent> | RejectedMessage): Promise<boolean> {
    const jobId = jobIdFor(event.kind, event.eventId);
    const add = () =>
      event.kind === 'rejected' ? queues.detections.add(event.kind, event, { jobId }) : queues.control.add(event.kind, event, { jobId });
    return enqueueOrDrop(add, jobId, 1);
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
      if (!parsed.ok) {
        stats.rejected++;
        return enqueue(rejection(channel, raw, parsed.reason, receivedAt));
      }
      stats.accepted++;
      const event = parsed.event;
      if (event.kind !== 'pattern') return enqueue(event);
      return new Promise<boolean>((enqueued) => {
        grouping.push({ event, enqueued });
        if (!adding) void addGroups();
      });
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
