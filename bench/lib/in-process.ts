/**
 * The harness of the in-process CPU benches (fanout-cpu.ts, inbox-cpu.ts, hub-cpu.ts): subscriptions opened
 * straight on yoga's envelope, with no socket, each pulling its next result as graphql-ws does
 * (after the previous one), and the CPU a batch of events costs per delivery.
 */
import type { DocumentNode } from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import type { AlertPubSub } from '../../src/pubsub/pubsub.js';

interface Enveloped {
  schema: unknown;
  contextFactory: () => Promise<object>;
  subscribe: (args: { schema: unknown; document: unknown; contextValue: unknown }) => Promise<unknown>;
}

/** `n` subscriptions of `document`, each with yoga's context plus `context`. */
export async function openSubscriptions(
  yoga: YogaServerInstance<object, object>,
  document: DocumentNode,
  n: number,
  context: object = {},
): Promise<AsyncIterator<unknown>[]> {
  const iterators: AsyncIterator<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const enveloped = yoga.getEnveloped({}) as unknown as Enveloped;
    const contextValue = { ...(await enveloped.contextFactory()), ...context };
    iterators.push((await enveloped.subscribe({ schema: enveloped.schema, document, contextValue })) as AsyncIterator<unknown>);
  }
  return iterators;
}

/**
 * CPU nanoseconds per delivery while every iterator pulls `events` results and `emit(n)` sends
 * event n (1…events), one per turn of the event loop; then the subscriptions are ended.
 */
export async function cpuPerDelivery(
  iterators: AsyncIterator<unknown>[],
  events: number,
  emit: (n: number) => void,
): Promise<number> {
  let delivered = 0;
  const pullers = iterators.map(async (it) => {
    for (let n = 0; n < events; n++) {
      await it.next();
      delivered++;
    }
  });
  await new Promise((r) => setTimeout(r, 50));
  const start = process.cpuUsage();
  for (let n = 1; n <= events; n++) {
    emit(n);
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pullers);
  const cpu = process.cpuUsage(start);
  if (delivered !== iterators.length * events) throw new Error(`delivered ${delivered} of ${iterators.length * events}`);
  for (const it of iterators) await it.return?.();
  return ((cpu.user + cpu.system) * 1000) / delivered;
}

/** Redis pub/sub's stand-in: `emit` calls every handler of a topic at once. */
export function memoryPubSub(): AlertPubSub & { emit(topic: string, value: unknown): void } {
  const handlers = new Map<string, ((v: unknown) => void)[]>();
  return {
    publish: () => Promise.resolve(),
    subscribe(topic, onValue) {
      handlers.set(topic, [...(handlers.get(topic) ?? []), onValue as (v: unknown) => void]);
      return Promise.resolve(handlers.size);
    },
    unsubscribe: () => undefined,
    onReconnect: () => () => undefined,
    close: () => Promise.resolve(),
    emit(topic, value) {
      for (const h of handlers.get(topic) ?? []) h(value);
    },
  };
}

/**
 * Runs each variant once to warm up, then `runs` times in turn (alternating, so a machine that
 * slows down weighs on all alike), and prints each variant's median, the middle run (of an even
 * count the upper of the two), with every run's figure: nanoseconds of CPU per `per`.
 */
export async function compareAlternating(
  variants: Record<string, () => Promise<number>>,
  runs: number,
  per: string,
  indent = '',
): Promise<void> {
  const results = Object.entries(variants).map(([label, run]) => ({ label, run, ns: [] as number[] }));
  for (const v of results) await v.run();
  for (let i = 0; i < runs; i++) for (const v of results) v.ns.push(await v.run());
  const width = Math.max(...results.map((v) => v.label.length));
  for (const { label, ns } of results) {
    const median = [...ns].sort((a, b) => a - b)[Math.floor(ns.length / 2)]!;
    console.log(
      `${indent}${label.padEnd(width)} median ${median.toFixed(0)} ns CPU per ${per} (${ns.map((x) => x.toFixed(0)).join(', ')})`,
    );
  }
}
