import type { Channels } from '../../config/env.js';
import { rejectionOf } from '../../domain/rejection.js';
import type { Logger } from '../../lib/logger.js';
import {
  MAX_REJECT_JOB_PAYLOAD_CHARS,
  MAX_REJECTS_PER_JOB,
  type ChannelKind,
  type InboundEvent,
  type PatternEvent,
  type RejectedMessage,
} from '../../schema/events.js';
import { parseInbound } from '../../domain/inbound.js';
import { inboundCounters } from '../../metrics/metrics.js';
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
   * group. Rejected messages are grouped the same way, apart, into `rejects` jobs on their own
   * queue (bounded in count and payload bytes), so a flood of garbage never stands in front of a
   * detection. Other kinds are one job each, whose id is the dedup key. Resolves true once its
   * job is in Redis.
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
  /** Most rejects in one job. */
  maxRejectsPerJob?: number;
}

const ENQUEUE_ATTEMPTS = 5;

export function createJobIntake({
  queues,
  channels,
  logger,
  maxEventsPerJob = 100,
  maxRejectsPerJob = MAX_REJECTS_PER_JOB,
}: JobIntakeOptions): JobIntake {
  const kindByChannel = new Map<string, ChannelKind>([
    [channels.patterns, 'pattern'],
    [channels.backtestProgress, 'backtestProgress'],
    [channels.backtestResults, 'backtestResult'],
    [channels.health, 'health'],
  ]);
  const channelOf = {
    backtestProgress: channels.backtestProgress,
    backtestResult: channels.backtestResults,
    health: channels.health,
  };
  const stats: JobIntakeStats = { received: 0, accepted: 0, rejected: 0, dropped: 0 };
  // patternwire_inbound_messages_total, bound once per channel: accepted and rejected are the ingest's to count.
  const counters = new Map([...kindByChannel.keys()].map((channel) => [channel, inboundCounters(channel)]));

  async function enqueueOrDrop(
    add: () => Promise<unknown>,
    what: string,
    events: number,
    about: { channel: string; eventId: string },
  ): Promise<boolean> {
    try {
      await withRetries(add, ENQUEUE_ATTEMPTS);
      return true;
    } catch (err) {
      stats.dropped += events;
      logger.error(`[ingest] could not enqueue ${what} after ${ENQUEUE_ATTEMPTS} attempts: ${(err as Error).message}`, about);
      return false;
    }
  }

  const detections = grouper<PatternEvent>({
    maxItems: maxEventsPerJob,
    add: (events) =>
      enqueueOrDrop(
        () => queues.detections.add('detections', { kind: 'detections', events }),
        `${events.length} detection(s) (first ${events[0]!.eventId})`,
        events.length,
        { channel: channels.patterns, eventId: events[0]!.eventId },
      ),
  });
  // No job id: a group is not a dedup unit; the unique event_id in the database is.
  const rejects = grouper<RejectedMessage>({
    maxItems: maxRejectsPerJob,
    weight: (r) => r.payloadBase64.length,
    maxWeight: MAX_REJECT_JOB_PAYLOAD_CHARS,
    add: (list) =>
      enqueueOrDrop(
        () => queues.rejects.add('rejects', { kind: 'rejects', rejects: list }),
        `${list.length} reject(s) (first ${list[0]!.eventId})`,
        list.length,
        { channel: list[0]!.channel, eventId: list[0]!.eventId },
      ),
  });

  function enqueue(event: Exclude<InboundEvent, PatternEvent>): Promise<boolean> {
    const jobId = jobIdFor(event.kind, event.eventId);
    return enqueueOrDrop(() => queues.control.add(event.kind, event, { jobId }), jobId, 1, {
      channel: channelOf[event.kind],
      eventId: event.eventId,
    });
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
      const count = counters.get(channel)!;
      if (!parsed.ok) {
        stats.rejected++;
        count.rejected.inc();
        return rejects.push(rejectionOf(channel, raw, parsed.reason, receivedAt));
      }
      stats.accepted++;
      count.accepted.inc();
      const event = parsed.event;
      if (event.kind !== 'pattern') return enqueue(event);
      return detections.push(event);
    },
  };
}

interface GrouperOptions<T> {
  /** Adds one group as one job; resolves whether it is in Redis. */
  add: (items: T[]) => Promise<boolean>;
  maxItems: number;
  /** A group's weight stays within `maxWeight`, unless a single item alone weighs more. */
  weight?: (item: T) => number;
  maxWeight?: number;
}

/**
 * One add in flight at a time, which keeps the groups in arrival order; whatever arrives while
 * it is in flight goes in the next group. Light traffic: one item per job, no added latency.
 */
function grouper<T>({ add, maxItems, weight = () => 0, maxWeight = Infinity }: GrouperOptions<T>): {
  push: (item: T) => Promise<boolean>;
} {
  const pending: { item: T; enqueued(ok: boolean): void }[] = [];
  let adding = false;

  function nextGroup(): { item: T; enqueued(ok: boolean): void }[] {
    let n = 0;
    let w = 0;
    while (n < pending.length && n < maxItems) {
      const next = weight(pending[n]!.item);
      if (n > 0 && w + next > maxWeight) break;
      w += next;
      n++;
    }
    return pending.splice(0, n);
  }

  async function drain(): Promise<void> {
    adding = true;
    while (pending.length > 0) {
      const group = nextGroup();
      const ok = await add(group.map((g) => g.item));
      for (const g of group) g.enqueued(ok);
    }
    adding = false;
  }

  return {
    push(item) {
      return new Promise<boolean>((enqueued) => {
        pending.push({ item, enqueued });
        if (!adding) void drain();
      });
    },
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
