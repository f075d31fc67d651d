import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { SubscriptionObserver, SubscriptionTracker } from './api-metrics.js';

type PromiseOrValue<T> = T | Promise<T>;

/**
 * One execution per event and distinct operation, shared by every subscriber of it.
 *
 * graphql-js executes a subscription's selection set once per subscriber per event. The live
 * hub hands every subscriber the same event object, so the result for (event, document,
 * operation, variables) is computed by the first subscriber that needs it and reused by the
 * rest: 50 unfiltered dashboards with the same query cost one execution per alert, not 50.
 * Cached per event object in a WeakMap, so it goes away with the event.
 *
 * Only sound while results depend on the event and the operation alone, not on who asks: true
 * of this schema, where the one per-user payload (`myAlerts`' Alert) is an object made for one
 * user and never handed to another's subscription. Errors are still masked per subscriber by yoga's
 * result hooks, which wrap this function.
 *
 * Every subscription's stream is made here, so `observer` (the API's metrics) hears each one
 * open, each event delivered and each one end.
 */
export function useSharedSubscriptionExecution(observer?: SubscriptionObserver): Plugin {
  const results = new WeakMap<object, Map<string, PromiseOrValue<ExecutionResult>>>();
  const documentIds = new WeakMap<DocumentNode, number>();
  let nextDocumentId = 0;

  const operationKey = (args: ExecutionArgs) => {
    let doc = documentIds.get(args.document);
    if (doc === undefined) documentIds.set(args.document, (doc = nextDocumentId++));
    // The query text, not only the parsed object: the same text parsed twice is still shared.
    const text = args.document.loc?.source.body ?? `#${doc}`;
    return `${text}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? {})}`;
  };

  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(async (args) => {
        const source = await createSourceEventStream(args);
        if (!isAsyncIterable(source)) return source;
        const key = operationKey(args);
        return mapAsyncIterable(
          source,
          (event) => {
            if (event === null || typeof event !== 'object') return execute({ ...args, rootValue: event });
            let byOperation = results.get(event);
            if (!byOperation) results.set(event, (byOperation = new Map<string, PromiseOrValue<ExecutionResult>>()));
            let result = byOperation.get(key);
            if (!result) byOperation.set(key, (result = execute({ ...args, rootValue: event })));
            return result;
          },
          observer?.opened(args),
        );
      });
    },
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as AsyncIterable<unknown> | null)?.[Symbol.asyncIterator] === 'function';
}

/**
 * Maps each item; `return` reaches the source, so unsubscribing still tears the stream down.
 * `tracker` hears of each item once the transport asks for the one after it (its frame is
 * written by then) and of the end, however it comes.
 */
function mapAsyncIterable<T, U>(
  source: AsyncIterable<T>,
  map: (value: T) => PromiseOrValue<U>,
  tracker?: SubscriptionTracker,
): AsyncIterableIterator<U> {
  const iterator = source[Symbol.asyncIterator]();
  let sent: T | undefined;
  let hasSent = false;
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    tracker?.closed();
  };
  const mapped: AsyncIterableIterator<U> = {
    async next() {
      if (hasSent) {
        hasSent = false;
        tracker!.delivered(sent);
        sent = undefined;
      }
      let r: IteratorResult<T>;
      try {
        r = await iterator.next();
      } catch (err) {
        close(); // a slow consumer's stream fails here
        throw err;
      }
      if (r.done) {
        close();
        return { value: undefined, done: true };
      }
      if (tracker) {
        sent = r.value;
        hasSent = true;
      }
      return { value: await map(r.value), done: false };
    },
    async return() {
      close();
      await iterator.return?.();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      close();
      if (iterator.throw) {
        const r = await iterator.throw(error);
        return r.done ? { value: undefined, done: true } : { value: await map(r.value), done: false };
      }
      throw error;
    },
    [Symbol.asyncIterator]() {
      return mapped;
    },
  };
  return mapped;
}
