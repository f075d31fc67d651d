import { execute, parse, type ExecutionResult } from 'graphql';
import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { COMPILE_AFTER, compiledOperations, useSharedSubscriptionExecution } from '../../src/api/shared-execution.js';
import type { SubscriptionObserver } from '../../src/api/api-metrics.js';
import type { PersonalFields } from '../../src/api/split-execution.js';
import { waitFor } from '../utils/wait.js';

/** A subscription source: registers a listener in `listeners` and yields what it is given. */
function listenerSource<T>(listeners: Set<(value: T) => void>, onReturn?: () => void): AsyncIterableIterator<T> {
  const queue: T[] = [];
  let wake: (() => void) | null = null;
  const push = (value: T) => {
    queue.push(value);
    wake?.();
  };
  listeners.add(push);
  const it: AsyncIterableIterator<T> = {
    async next() {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      return { value: queue.shift()!, done: false };
    },
    return() {
      onReturn?.();
      listeners.delete(push);
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

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
          subscribe: () => listenerSource(listeners, () => returned++),
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

  it('compiles an operation once it has been executed COMPILE_AFTER times, and answers the same before and after', async () => {
    const s = setup();
    const it = await s.subscribe('subscription { events { id compiled: label(prefix: "c-") } }');
    const before = compiledOperations();
    const next = async (id: string) => {
      const pending = it.next();
      await waitFor(() => s.listeners() === 1, { timeoutMs: 2_000, intervalMs: 1, what: 'the source listener' });
      s.emit({ id });
      return (await pending).value;
    };
    for (let n = 1; n < COMPILE_AFTER; n++) {
      expect(await next(String(n))).toEqual({ data: { events: { id: String(n), compiled: `c-${n}` } } });
    }
    expect(compiledOperations()).toBe(before);
    for (let n = COMPILE_AFTER; n < COMPILE_AFTER + 5; n++) {
      expect(await next(String(n))).toEqual({ data: { events: { id: String(n), compiled: `c-${n}` } } });
    }
    expect(compiledOperations()).toBe(before + 1);
    await it.return?.();
  });

  it('compiles nothing for operations that are executed only a few times each', async () => {
    const s = setup();
    const before = compiledOperations();
    // 100 different operations, one event each: what a client making up operations costs.
    const subs = await Promise.all(
      Array.from({ length: 100 }, (_, i) => s.subscribe(`subscription { events { id n${i}: label } }`)),
    );
    const pending = subs.map((it) => it.next());
    await waitFor(() => s.listeners() === 100, { timeoutMs: 2_000, intervalMs: 1, what: '100 source listeners' });
    s.emit({ id: '1' });
    const results = await Promise.all(pending);
    expect(results.map((r) => r.value)).toEqual(
      Array.from({ length: 100 }, (_, i) => ({ data: { events: { id: '1', [`n${i}`]: '1' } } })),
    );
    expect(compiledOperations()).toBe(before);
    await Promise.all(subs.map(async (it) => it.return?.()));
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

/**
 * A payload made per recipient around one shared event, as `myAlerts` makes an Alert per user
 * around one detection: `title` and `id` depend on the event, `items` on the recipient.
 */
describe('useSharedSubscriptionExecution with personal fields', () => {
  interface Payload {
    event: { id: string };
    items: { id: string; label: string }[];
  }
  const typeDefs = /* GraphQL */ `
    type Query {
      ok: Boolean
    }
    type Item {
      id: ID!
      label: String!
    }
    type Event {
      id: ID!
      title(prefix: String): String!
      items: [Item!]!
    }
    type Subscription {
      events: Event!
    }
  `;
  const personal: PersonalFields<Payload> = {
    type: 'Event',
    fields: ['items'],
    sharedBy: (p) => p.event,
    personalBy: (p) => p.items,
  };

  function setupPersonal() {
    const calls = { title: 0, label: 0 };
    const listeners = new Set<(p: Payload) => void>();
    // Each subscriber asks for its own recipient index through its context.
    const resolvers = {
      Event: {
        id: (p: Payload) => p.event.id,
        title: (p: Payload, args: { prefix?: string }) => {
          calls.title++;
          return `${args.prefix ?? ''}${p.event.id}`;
        },
        items: (p: Payload) => p.items,
      },
      Item: {
        label: (i: { label: string }) => {
          calls.label++;
          if (i.label === 'boom') throw new Error('label failed');
          return i.label;
        },
      },
      Subscription: {
        events: {
          subscribe: () => listenerSource(listeners),
          resolve: (p: Payload) => p,
        },
      },
    };
    const schema = createSchema({ typeDefs, resolvers });
    const yoga = createYoga({ schema, logging: false, plugins: [useSharedSubscriptionExecution(undefined, [personal])] });
    const subscribers: AsyncIterableIterator<{ data?: unknown }>[] = [];
    return {
      schema,
      calls,
      async subscribe(query: string, variableValues?: Record<string, unknown>) {
        const { subscribe, contextFactory } = yoga.getEnveloped({});
        const it = (await subscribe({
          schema: yoga.getEnveloped({}).schema,
          document: parse(query),
          variableValues,
          contextValue: await contextFactory(),
        })) as AsyncIterableIterator<{ data?: unknown }>;
        subscribers.push(it);
        return it;
      },
      /** Sends subscriber `s` (in the order they subscribed) the payload `payloadOf(s)`, and collects each one's result. */
      async deliver(payloadOf: (s: number) => Payload) {
        const pending = subscribers.map((it) => it.next());
        await waitFor(() => listeners.size === subscribers.length, {
          timeoutMs: 2_000,
          intervalMs: 1,
          what: 'every source listener',
        });
        // Listeners are in subscription order (a Set keeps insertion order).
        [...listeners].forEach((push, s) => push(payloadOf(s)));
        return (await Promise.all(pending)).map((r) => r.value as ExecutionResult);
      },
      async end() {
        await Promise.all(subscribers.map(async (it) => it.return?.()));
      },
    };
  }

  const QUERIES: [string, string, Record<string, unknown>?][] = [
    ['everything', 'subscription { events { id title(prefix: "a-") items { id label } } }'],
    ['aliases, in their order', 'subscription { e: events { b: items { label } a: title __typename x: id } }'],
    [
      'fragments and inline fragments',
      'subscription { events { ...F } } fragment F on Event { items { id } ... on Event { title } }',
    ],
    ['@include, on', 'subscription($w: Boolean!) { events { id items @include(if: $w) { id } } }', { w: true }],
    ['@include, off', 'subscription($w: Boolean!) { events { id items @include(if: $w) { id } } }', { w: false }],
    ['only the personal field', 'subscription { events { items { label } } }'],
    ['only shared fields', 'subscription { events { id title } }'],
  ];

  it.each(QUERIES)('gives each recipient what graphql-js gives: %s', async (_, query, variables) => {
    const s = setupPersonal();
    for (let i = 0; i < 4; i++) await s.subscribe(query, variables);
    const itemsOf = Array.from({ length: 4 }, (_, u) => [
      { id: `i${u}`, label: `user ${u}` },
      { id: `j${u}`, label: `also ${u}` },
    ]);
    for (const id of ['1', '2', '3']) {
      const event = { id };
      const payloads = itemsOf.map((items) => ({ event, items }));
      const results = await s.deliver((u) => payloads[u]!);
      const expected = payloads.map((p) =>
        execute({ schema: s.schema, document: parse(query), rootValue: p, variableValues: variables }),
      );
      expect(results).toEqual(expected);
      // Key order too: the frames are JSON.
      expect(results.map((r) => JSON.stringify(r))).toEqual(expected.map((r) => JSON.stringify(r)));
    }
    await s.end();
  });

  it('executes the shared part once per event and the personal part once per distinct personal value', async () => {
    const s = setupPersonal();
    for (let i = 0; i < 10; i++) await s.subscribe('subscription { events { title items { label } } }');
    const itemsOf = Array.from({ length: 10 }, (_, u) => [{ id: `i${u}`, label: `user ${u}` }]);
    const deliver = (id: string) => {
      const event = { id };
      return s.deliver((u) => ({ event, items: itemsOf[u]! }));
    };
    // The first payload of each subscription is executed in full (it gives the field order).
    await deliver('1');
    expect(s.calls).toEqual({ title: 10, label: 10 });
    // Then: the title once for the ten, and each user's items once for every later event.
    await deliver('2');
    expect(s.calls).toEqual({ title: 11, label: 20 });
    await deliver('3');
    expect(s.calls).toEqual({ title: 12, label: 20 });
    await s.end();
  });

  it('executes a payload whose personal part fails in full, so its errors are graphql-js’s; the others are unaffected', async () => {
    const s = setupPersonal();
    const query = 'subscription { events { id items { label } } }';
    for (let i = 0; i < 3; i++) await s.subscribe(query);
    await s.deliver(() => ({ event: { id: '1' }, items: [{ id: 'a', label: 'fine' }] }));
    const event = { id: '2' };
    const payloads: Payload[] = [
      { event, items: [{ id: 'a', label: 'fine' }] },
      { event, items: [{ id: 'b', label: 'boom' }] },
      { event, items: [{ id: 'c', label: 'also fine' }] },
    ];
    const results = await s.deliver((u) => payloads[u]!);
    const expected = payloads.map((p) => execute({ schema: s.schema, document: parse(query), rootValue: p }) as ExecutionResult);
    expect(results[0]).toEqual(expected[0]);
    expect(results[2]).toEqual(expected[2]);
    // The failed one as graphql-js has it (the error bubbles up to `data: null`), its message masked by yoga.
    expect(expected[1]!.data).toBeNull();
    expect(results[1]!.data).toBeNull();
    expect(results[1]!.errors?.map((e) => [e.message, e.path])).toEqual([['Unexpected error.', expected[1]!.errors![0]!.path]]);
    await s.end();
  });
});
