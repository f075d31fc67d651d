import { parse } from 'graphql';
import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { useSharedSubscriptionExecution } from '../../src/api/shared-execution.js';
import type { SubscriptionObserver } from '../../src/api/api-metrics.js';
import { waitFor } from '../utils/wait.js';

/** A tiny schema whose field resolver counts its calls, and a source all subscribers share. */
function setup(plugins = [useSharedSubscriptionExecution()]) {
  let executions = 0;
  const listeners = new Set<(event: object) => void>();
  let returned = 0;
  const schema = createSchema({
    typeDefs: /* GraphQL */ `
      type Query {
        ok: Boolean
      }
      type Event {
        id: ID!
        label(prefix: String): String!
      }
      type Subscription {
        events: Event!
      }
    `,
    resolvers: {
      Event: {
        label: (e: { id: string }, args: { prefix?: string }) => {
          executions++;
          return `${args.prefix ?? ''}${e.id}`;
        },
      },
      Subscription: {
        events: {
          subscribe: () => {
            const queue: object[] = [];
            let wake: (() => void) | null = null;
            const push = (e: object) => {
              queue.push(e);
              wake?.();
            };
            listeners.add(push);
            const it: AsyncIterableIterator<object> = {
              async next() {
                while (queue.length === 0) await new Promise<void>((r) => (wake = r));
                return { value: queue.shift()!, done: false };
              },
              return() {
                returned++;
                listeners.delete(push);
                return Promise.resolve({ value: undefined, done: true });
              },
              [Symbol.asyncIterator]: () => it,
            };
            return it;
          },
          resolve: (e: object) => e,
        },
      },
    },
  });
  const yoga = createYoga({ schema, plugins });
  async function subscribe(query: string, variableValues?: Record<string, unknown>) {
    const { subscribe, contextFactory } = yoga.getEnveloped({});
    const result = await subscribe({
      schema: yoga.getEnveloped({}).schema,
      document: parse(query),
      variableValues,
      contextValue: await contextFactory(),
    });
    return result as AsyncIterableIterator<{ data?: unknown }>;
  }
  return {
    subscribe,
    emit: (e: object) => listeners.forEach((l) => l(e)),
    executions: () => executions,
    returned: () => returned,
    listeners: () => listeners.size,
  };
}

describe('useSharedSubscriptionExecution', () => {
  it('executes an event once for every subscriber of the same operation and variables', async () => {
    const s = setup();
    const query = 'subscription($p: String) { events { id label(prefix: $p) } }';
    const same = await Promise.all(Array.from({ length: 10 }, () => s.subscribe(query, { p: 'a-' })));
    const other = await s.subscribe(query, { p: 'b-' });
    const pending = [...same, other].map((it) => it.next());
    // Each subscriber's source listens once its first next() has reached it.
    await waitFor(() => s.listeners() === 11, { timeoutMs: 2_000, intervalMs: 1, what: '11 source listeners' });
    s.emit({ id: '1' });
    const results = await Promise.all(pending);
    expect(results.slice(0, 10).map((r) => r.value)).toEqual(Array(10).fill({ data: { events: { id: '1', label: 'a-1' } } }));
    expect(results[10]!.value).toEqual({ data: { events: { id: '1', label: 'b-1' } } });
    // 10 subscribers of one operation + 1 with other variables: two executions, not eleven.
    expect(s.executions()).toBe(2);

    // A different event object is executed anew.
    const next = [...same, other].map((it) => it.next());
    await waitFor(() => s.listeners() === 11, { timeoutMs: 2_000, intervalMs: 1, what: '11 source listeners' });
    s.emit({ id: '2' });
    await Promise.all(next);
    expect(s.executions()).toBe(4);

    // Unsubscribing reaches the source.
    await Promise.all([...same, other].map(async (it) => it.return?.()));
    expect(s.returned()).toBe(11);
    expect(s.listeners()).toBe(0);
  });

  it('without the plugin, graphql-js executes once per subscriber (what the plugin saves)', async () => {
    const s = setup([]);
    const subs = await Promise.all(Array.from({ length: 5 }, () => s.subscribe('subscription { events { label } }')));
    const pending = subs.map((it) => it.next());
    await waitFor(() => s.listeners() === 5, { timeoutMs: 2_000, intervalMs: 1, what: '5 source listeners' });
    s.emit({ id: '1' });
    await Promise.all(pending);
    expect(s.executions()).toBe(5);
  });

  it('tells the observer of each subscription opened, each event once the next is asked for, and the end', async () => {
    const calls: string[] = [];
    const observer: SubscriptionObserver = {
      opened: (args) => {
        calls.push(`opened ${args.operationName ?? '-'}`);
        return { delivered: (e) => calls.push(`delivered ${(e as { id: string }).id}`), closed: () => calls.push('closed') };
      },
    };
    const s = setup([useSharedSubscriptionExecution(observer)]);
    const it = await s.subscribe('subscription { events { id } }');
    expect(calls).toEqual(['opened -']);
    const first = it.next();
    await waitFor(() => s.listeners() === 1, { timeoutMs: 2_000, intervalMs: 1, what: 'the source listener' });
    s.emit({ id: '1' });
    await first;
    // The transport has the frame of event 1; it is delivered once the transport asks for more.
    expect(calls).toEqual(['opened -']);
    const second = it.next();
    expect(calls).toEqual(['opened -', 'delivered 1']);
    s.emit({ id: '2' });
    await second;
    await it.return?.();
    await it.return?.();
    // Event 2 was never followed by a request for more: not counted as delivered. Closed once.
    expect(calls).toEqual(['opened -', 'delivered 1', 'closed']);
  });
});
