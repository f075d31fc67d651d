/**
 * The live hub's routing, through real Redis pub/sub: a subscriber that named its symbols, its
 * tiers (or its backtest's job) is offered only those messages, one that named none every
 * message, each the ones it wants exactly once and in order; a closed one is offered nothing more.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createLiveHub, detectionRoutes, type LiveHub } from '../src/api/live-hub.js';
import { compileFilter, type PatternFilter } from '../src/domain/pattern-filter.js';
import { createLogger } from '../src/lib/logger.js';
import { createPubSub, type AlertPubSub } from '../src/pubsub/pubsub.js';
import { createRedis } from '../src/redis/connections.js';
import type { BacktestProgress, Detection } from '../src/schema/topics.js';
import { storedDetection } from './utils/detections.js';
import { createDisposers, REDIS_URL, uniqueId } from './utils/env.js';
import { waitFor } from './utils/wait.js';

const disposers = createDisposers();
afterAll(() => disposers.run());

async function openHub(): Promise<{ hub: LiveHub; pubsub: AlertPubSub }> {
  const logger = createLogger('silent');
  const redis = { url: REDIS_URL, clusterNodes: null };
  const pubsub = createPubSub(
    createRedis(redis, 'publisher', logger),
    createRedis(redis, 'subscriber', logger),
    uniqueId('pwt-hub'),
  );
  disposers.add(() => pubsub.close());
  const hub = await createLiveHub({ pubsub, queueLimit: 1_000 });
  disposers.add(() => hub.close());
  return { hub, pubsub };
}

/** A hub subscriber that counts what it was offered and keeps what it accepted. */
function subscriber<T>(accept: (m: T) => boolean) {
  const offered: T[] = [];
  return {
    offered,
    accept: (m: T) => {
      offered.push(m);
      return accept(m);
    },
  };
}

async function drain<T>(stream: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) out.push((await stream.next()).value as T);
  return out;
}

describe('LiveHub routing', () => {
  it('offers a detection only to the subscribers of its symbol and to those of every symbol', async () => {
    const { hub, pubsub } = await openHub();
    const symbolOf = (d: Detection) => d.symbol;
    const aapl = subscriber<Detection>((d) => d.symbol === 'AAPL');
    const both = subscriber<Detection>((d) => ['AAPL', 'MSFT'].includes(d.symbol) && d.confidence >= 0.8);
    const every = subscriber<Detection>(() => true);
    const aaplStream = hub.stream('patternAlert', aapl.accept, undefined, { by: 'symbol', values: ['AAPL'] });
    const bothStream = hub.stream('patternAlert', both.accept, undefined, {
      by: 'symbol',
      values: new Set(['MSFT', 'AAPL', 'AAPL']),
    });
    const everyStream = hub.stream('patternAlert', every.accept);
    // No values, like a filter's empty list: any symbol.
    const none = subscriber<Detection>(() => true);
    hub.stream('patternAlert', none.accept, undefined, { by: 'symbol', values: [] });
    expect(hub.subscriberCount()).toBe(4);

    const published = [
      storedDetection(1, { symbol: 'AAPL', confidence: 0.9 }),
      storedDetection(2, { symbol: 'MSFT', confidence: 0.7 }),
      storedDetection(3, { symbol: 'TSLA' }),
      storedDetection(4, { symbol: 'MSFT', confidence: 0.85 }),
      storedDetection(5, { symbol: 'AAPL', confidence: 0.6 }),
    ];
    for (const d of published) await pubsub.publish('patternAlert', d);

    expect((await drain(everyStream, 5)).map((d) => d.id)).toEqual([1, 2, 3, 4, 5]);
    // A message is offered to every listener in one go: the unfiltered one has all five, so has this.
    expect(none.offered.map((d) => d.id)).toEqual([1, 2, 3, 4, 5]);
    expect((await drain(aaplStream, 2)).map((d) => d.id)).toEqual([1, 5]);
    expect((await drain(bothStream, 2)).map((d) => d.id)).toEqual([1, 4]);
    // Offered: never another symbol's detection, and each of its own once.
    expect(aapl.offered.map(symbolOf)).toEqual(['AAPL', 'AAPL']);
    expect(both.offered.map((d) => d.id)).toEqual([1, 2, 4, 5]);
    expect(every.offered).toHaveLength(5);

    // Closed: offered nothing more, under any of its routes.
    await bothStream.return?.();
    expect(hub.subscriberCount()).toBe(3);
    await pubsub.publish('patternAlert', storedDetection(6, { symbol: 'MSFT', confidence: 0.9 }));
    await pubsub.publish('patternAlert', storedDetection(7, { symbol: 'AAPL', confidence: 0.9 }));
    expect((await drain(aaplStream, 1)).map((d) => d.id)).toEqual([7]);
    await waitFor(() => every.offered.length === 7, { what: 'the last two at the unfiltered subscriber' });
    expect(both.offered.map((d) => d.id)).toEqual([1, 2, 4, 5]);
  });

  it('files a filter by its symbols, else its tiers: offered its tier only, and each detection once', async () => {
    const { hub, pubsub } = await openHub();
    // As patternAlert subscribes: the filter's own predicate, filed where detectionRoutes says.
    const open = (filter: PatternFilter) => {
      const compiled = compileFilter(filter);
      const s = subscriber<Detection>((d) => compiled.matches(d));
      return { ...s, stream: hub.stream('patternAlert', s.accept, undefined, detectionRoutes(compiled)) };
    };
    const daily = open({ tiers: ['DAILY'], minConfidence: 0.8 });
    // Names both: filed under its symbols alone, so an AAPL daily detection is offered once.
    const aaplDaily = open({ symbols: ['aapl'], tiers: ['DAILY'] });

    const published = [
      storedDetection(1, { symbol: 'AAPL', tier: 'DAILY', confidence: 0.9 }),
      storedDetection(2, { symbol: 'AAPL', tier: 'INTRADAY', confidence: 0.9 }),
      storedDetection(3, { symbol: 'MSFT', tier: 'DAILY', confidence: 0.7 }),
      storedDetection(4, { symbol: 'MSFT', tier: 'COMBO', confidence: 0.9 }),
      storedDetection(5, { symbol: 'TSLA', tier: 'DAILY', confidence: 0.85 }),
    ];
    for (const d of published) await pubsub.publish('patternAlert', d);

    expect((await drain(daily.stream, 2)).map((d) => d.id)).toEqual([1, 5]);
    expect((await drain(aaplDaily.stream, 1)).map((d) => d.id)).toEqual([1]);
    expect(daily.offered.map((d) => d.id)).toEqual([1, 3, 5]);
    expect(aaplDaily.offered.map((d) => d.id)).toEqual([1, 2]);
  });

  it("offers a backtest's progress only to the subscribers of its job and to those of every job", async () => {
    const { hub, pubsub } = await openHub();
    const progress = (jobId: string, value: number): BacktestProgress => ({
      jobId,
      progress: value,
      status: 'running',
      currentSymbol: null,
      processedSymbols: null,
      estimatedCompletion: null,
      at: new Date(),
    });
    const one = subscriber<BacktestProgress>((m) => m.jobId === 'job-1');
    const every = subscriber<BacktestProgress>(() => true);
    const oneStream = hub.stream('backtestProgress', one.accept, undefined, { by: 'jobId', values: ['job-1'] });
    const everyStream = hub.stream('backtestProgress', every.accept);
    for (const [job, value] of [
      ['job-2', 0.1],
      ['job-1', 0.2],
      ['job-2', 0.3],
      ['job-1', 0.4],
    ] as const)
      await pubsub.publish('backtestProgress', progress(job, value));
    expect((await drain(everyStream, 4)).map((m) => m.progress)).toEqual([0.1, 0.2, 0.3, 0.4]);
    expect((await drain(oneStream, 2)).map((m) => m.progress)).toEqual([0.2, 0.4]);
    expect(one.offered.map((m) => m.jobId)).toEqual(['job-1', 'job-1']);
  });
});
