import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';
import type { SubscriptionObserver, SubscriptionTracker } from './api-metrics.js';
import { mergeParts, orderOf, splitOperation, type PersonalFields, type SplitOperation } from './split-execution.js';

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
 * A per-user payload type named in `personal` is executed in two parts (./split-execution.ts):
 * its shared fields once per event for everyone, its personal fields once per distinct value.
 *
 * Each event is executed by the operation compiled with graphql-jit (once per parsed document and
 * operation name, after `COMPILE_AFTER` executions), not by graphql-js's interpreter: 10–25× less
 * CPU per execution, which matters where nothing can be shared (each `myAlerts` frame is its own
 * user's). Queries and mutations stay on graphql-js; only the per-event step of an already
 * validated subscription changes.
 *
 * Every subscription's stream is made here, so `observer` (the API's metrics) hears each one
 * open, each event delivered and each one end.
 */
export function useSharedSubscriptionExecution(
  observer?: SubscriptionObserver,
  personal: readonly PersonalFields[] = [],
): Plugin {
  const results = new WeakMap<object, Map<string, PromiseOrValue<ExecutionResult>>>();
  /** The result for (`of`, `key`), made by the first to ask. */
  const cached = (of: object, key: string, make: () => PromiseOrValue<ExecutionResult>) => memo(results, of, key, make);
  type Split = { fields: PersonalFields; parts: SplitOperation } | null;
  const splits = new WeakMap<DocumentNode, Map<string, Split>>();
  /** How `args`' operation splits, if its root field returns one of the `personal` types; made once per document. */
  const splitFor = (args: ExecutionArgs) =>
    memo(splits, args.document, args.operationName ?? '', (): Split => {
      let found: Split = null;
      for (const fields of personal) {
        const parts = splitOperation(args, fields);
        if (parts) found = { fields, parts };
      }
      return found;
    });
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
        const run = executorFor(args);
        const split = splitFor(args);
        const perEvent = (event: unknown) =>
          event === null || typeof event !== 'object' ? run(event) : cached(event, key, () => run(event));
        return mapAsyncIterable(source, split ? inParts(split.fields, split.parts) : perEvent, observer?.opened(args));

        /**
         * Each payload from its shared part (cached by what `sharedBy` gives) and its personal
         * part (cached by what `personalBy` gives), merged in the full operation's field order.
         * That order is read off the subscription's first payload, executed in full; so is any
         * payload whose parts fail, so errors come out exactly as they would.
         */
        function inParts(fields: PersonalFields, parts: SplitOperation) {
          const runShared = parts.shared && executorFor({ ...args, document: parts.shared });
          const runPersonal = parts.personal && executorFor({ ...args, document: parts.personal });
          let layout: ReturnType<typeof orderOf> = null;
          // Made once: a string made per event would be hashed anew at every lookup.
          const sharedKey = `${key}\u0000shared`;
          const personalKey = `${key}\u0000personal`;
          return (payload: unknown): PromiseOrValue<ExecutionResult> => {
            const event = payload as object;
            const sharedBy = fields.sharedBy(event);
            if (layout === null || sharedBy === null) {
              const full = run(event);
              if (layout === null && !isPromise(full)) layout = orderOf(full);
              return full;
            }
            const shared = runShared ? cached(sharedBy, sharedKey, () => runShared(event)) : null;
            const own = runPersonal ? cached(fields.personalBy(event), personalKey, () => runPersonal(event)) : null;
            if (isPromise(shared) || isPromise(own)) return run(event);
            return mergeParts(layout.rootKey, layout.order, shared, own) ?? run(event);
          };
        }
      });
    },
  };
}

/**
 * Executions of one operation (any subscription's, any event's) before it is compiled. Compiling
 * the largest operation the limits let through takes 10–20 ms, several times what parsing and
 * validating it cost: a client sending unique operations that never see an event must not make
 * the API compile each. An operation that is executed again and again pays this once.
 */
export const COMPILE_AFTER = 50;

interface Operation {
  executions: number;
  /** Undefined until compiled; null if graphql-jit cannot compile it (then graphql-js runs it). */
  compiled: CompiledQuery | null | undefined;
}

/**
 * Per parsed document (yoga's parser cache hands every subscriber of the same text the same one)
 * and operation name; they go away with the document.
 */
const operations = new WeakMap<DocumentNode, Map<string, Operation>>();
let compilations = 0;

/** Operations compiled so far in this process (tests read it). */
export const compiledOperations = () => compilations;

/**
 * Executes one event of the subscription `args` describes: `rootValue` is the event, as in
 * graphql-js's MapSourceToResponseEvent. graphql-js until the operation has been executed
 * `COMPILE_AFTER` times, then the operation compiled by graphql-jit.
 */
function executorFor(args: ExecutionArgs): (rootValue: unknown) => PromiseOrValue<ExecutionResult> {
  const op = memo(operations, args.document, args.operationName ?? '', (): Operation => ({ executions: 0, compiled: undefined }));
  const variables = args.variableValues ?? {};
  return (rootValue) => {
    if (op.compiled === undefined && ++op.executions >= COMPILE_AFTER) {
      const result = compileQuery(args.schema, args.document, args.operationName ?? undefined);
      op.compiled = isCompiledQuery(result) ? result : null;
      if (op.compiled) compilations++;
    }
    return op.compiled ? op.compiled.query(rootValue, args.contextValue, variables) : execute({ ...args, rootValue });
  };
}

/** The value under (`of`, `key`) in `map`, made by `make` the first time; `make` never returns undefined. */
function memo<K extends object, V>(map: WeakMap<K, Map<string, V>>, of: K, key: string, make: () => V): V {
  let byKey = map.get(of);
  if (!byKey) map.set(of, (byKey = new Map<string, V>()));
  let value = byKey.get(key);
  if (value === undefined) byKey.set(key, (value = make()));
  return value;
}

function isPromise<T>(value: PromiseOrValue<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function';
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
