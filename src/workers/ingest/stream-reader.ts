import type { RedisClient } from '../../redis/connections.js';
import type { Logger } from '../../lib/logger.js';
import type { Reader } from './pubsub-reader.js';
import type { JobIntake } from './job-intake.js';

export interface StreamReaderOptions {
  /** Opens a `stream`-role connection; each stream blocks on one of its own. */
  connect(): RedisClient;
  intake: JobIntake;
  /** Stream keys: the channel names. */
  streams: string[];
  group: string;
  /** Unique per process, so a dead process's pending entries can be told apart and reclaimed. */
  consumer: string;
  /** An entry delivered this long ago and never acknowledged is taken over. */
  claimIdleMs: number;
  logger: Logger;
  /**
   * Flow control for the detections stream: no read while the detections queue holds `max` jobs
   * or more. A publisher faster than the workers then fills its own stream (durable, in Redis)
   * instead of the queue, and the pipeline keeps its pace. Pub/sub cannot be slowed this way.
   */
  backpressure?: { queuedJobs(): Promise<number>; max: number };
  blockMs?: number;
  count?: number;
}

type Entry = [id: Buffer, fields: Buffer[]];

/** The message bytes of an entry: its `message`, `data` or `payload` field, else its first value. */
function payloadOf(fields: Buffer[]): Buffer {
  for (const name of ['message', 'data', 'payload']) {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1]!;
  }
  return fields[1] ?? Buffer.alloc(0);
}

/**
 * At-least-once ingest from Redis Streams named like the channels: a consumer group per
 * deployment, an entry acknowledged only after its job is enqueued, and entries of a consumer
 * that died (pending longer than `claimIdleMs`) claimed by a live one. An entry read twice, or
 * heard on pub/sub as well, has one dedup key: it is stored and published once.
 */
export function createStreamReader(o: StreamReaderOptions): Reader {
  const blockMs = o.blockMs ?? 1_000;
  const count = o.count ?? 100;
  const connections: RedisClient[] = [];
  const loops: Promise<void>[] = [];
  let running = false;

  async function handle(client: RedisClient, stream: string, entries: Entry[]): Promise<void> {
    let enqueued: boolean[];
    if (o.intake.kindOf(stream) === 'pattern') {
      // Handed over together so they share jobs; the intake keeps them in order.
      enqueued = await Promise.all(entries.map(([, fields]) => o.intake.accept(stream, payloadOf(fields))));
    } else {
      // One at a time, so backtest progress is enqueued in the order it was added.
      enqueued = [];
      for (const [, fields] of entries) enqueued.push(await o.intake.accept(stream, payloadOf(fields)));
    }
    const done = entries.filter((_, i) => enqueued[i]).map(([id]) => id);
    if (done.length) await client.xack(stream, o.group, ...done);
  }

  async function roomInQueue(): Promise<void> {
    const bp = o.backpressure;
    while (bp && running && (await bp.queuedJobs()) >= bp.max) await new Promise((r) => setTimeout(r, 20));
  }

  async function readLoop(client: RedisClient, stream: string): Promise<void> {
    const paced = o.intake.kindOf(stream) === 'pattern';
    while (running) {
      try {
        if (paced) await roomInQueue();
        const reply = (await client.callBuffer(
          'XREADGROUP',
          'GROUP',
          o.group,
          o.consumer,
          'COUNT',
          count,
          'BLOCK',
          blockMs,
          'STREAMS',
          stream,
          '>',
        )) as [Buffer, Entry[]][] | null;
        for (const [, entries] of reply ?? []) await handle(client, stream, entries);
      } catch (err) {
        if (!running) break;
        o.logger.error(`[stream-ingest] ${stream}: ${(err as Error).message}`, { channel: stream });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  async function claimLoop(client: RedisClient, stream: string): Promise<void> {
    while (running) {
      try {
        let cursor = '0-0';
        do {
          const [next, entries] = (await client.callBuffer(
            'XAUTOCLAIM',
            stream,
            o.group,
            o.consumer,
            o.claimIdleMs,
            cursor,
            'COUNT',
            count,
          )) as [Buffer, (Entry | null)[]];
          cursor = next.toString();
          const live = entries.filter((e): e is Entry => e !== null && e[1] !== null);
          if (live.length) {
            o.logger.info(`[stream-ingest] ${stream}: took over ${live.length} entries left unacknowledged`, { channel: stream });
            await handle(client, stream, live);
          }
        } while (cursor !== '0-0' && running);
      } catch (err) {
        if (!running) break;
        o.logger.error(`[stream-ingest] ${stream} claim: ${(err as Error).message}`, { channel: stream });
      }
      await sleepWhile(() => running, Math.max(250, o.claimIdleMs / 2));
    }
  }

  return {
    async start() {
      running = true;
      for (const stream of o.streams) {
        const reader = o.connect();
        const claimer = o.connect();
        connections.push(reader, claimer);
        try {
          // From the start of the stream: what was added before Patternwire first ran is read too.
          await reader.xgroup('CREATE', stream, o.group, '0', 'MKSTREAM');
        } catch (err) {
          if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
        }
        loops.push(readLoop(reader, stream), claimLoop(claimer, stream));
      }
    },
    async stop() {
      running = false;
      // A read blocks at most `blockMs`; with Redis gone it would wait for ever, so after that
      // the connections are dropped, which fails whatever is still waiting.
      const settled = Promise.allSettled(loops);
      await Promise.race([settled, new Promise((r) => setTimeout(r, blockMs + 1_000).unref())]);
      for (const c of connections) c.disconnect();
      await settled;
    },
  };
}

async function sleepWhile(condition: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (condition() && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
}
