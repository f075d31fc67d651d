/**
 * A push-to-pull bridge: listeners push, a subscription's `for await` pulls. Bounded, so a
 * client that stops reading cannot grow the server's memory: past `limit` queued items the
 * stream fails with SlowConsumerError and `onOverflow` is told (the API then closes that
 * client's connection; it resumes with `after`).
 */
export class SlowConsumerError extends Error {
  override name = 'SlowConsumerError';
}

export interface EventStream<T> extends AsyncIterableIterator<T> {
  push(value: T): void;
  /** Ends the stream after what is already queued. */
  end(): void;
}

export interface EventStreamOptions {
  limit: number;
  onClose: () => void;
  onOverflow?: (error: SlowConsumerError) => void;
}

export function createEventStream<T>(options: EventStreamOptions): EventStream<T> {
  const queue: T[] = [];
  let waiting: ((r: IteratorResult<T>) => void) | null = null;
  let failWaiting: ((err: Error) => void) | null = null;
  let error: Error | null = null;
  let done = false;
  let closed = false;

  const close = () => {
    if (closed) return;
    closed = true;
    options.onClose();
  };

  const stream: EventStream<T> = {
    push(value) {
      if (done || error) return;
      if (waiting) {
        const resolve = waiting;
        waiting = failWaiting = null;
        resolve({ value, done: false });
        return;
      }
      if (queue.length >= options.limit) {
        const overflow = new SlowConsumerError(`more than ${options.limit} events queued for a subscriber that is not reading`);
        error = overflow;
        queue.length = 0;
        close();
        options.onOverflow?.(overflow);
        return;
      }
      queue.push(value);
    },
    end() {
      done = true;
      if (waiting && queue.length === 0) {
        const resolve = waiting;
        waiting = failWaiting = null;
        resolve({ value: undefined, done: true });
      }
    },
    next() {
      if (error) {
        const err = error;
        return Promise.reject(err);
      }
      if (queue.length > 0) return Promise.resolve({ value: queue.shift() as T, done: false });
      if (done) {
        close();
        return Promise.resolve({ value: undefined, done: true });
      }
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        waiting = resolve;
        failWaiting = reject;
      });
    },
    return() {
      done = true;
      queue.length = 0;
      close();
      if (waiting) {
        const resolve = waiting;
        waiting = failWaiting = null;
        resolve({ value: undefined, done: true });
      }
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(err?: unknown) {
      error = err instanceof Error ? err : new Error(String(err));
      close();
      failWaiting?.(error);
      waiting = failWaiting = null;
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return stream;
    },
  };
  return stream;
}

/**
 * An iterator over `body`, a generator reading the hub stream `live`, whose `return()` (and
 * `throw()`) takes effect at once.
 *
 * An async generator handles `return()` only when it is paused at a `yield`. One waiting in
 * `await live.next()` for an event its filter never matches would keep its hub listener, and
 * with it the subscription's context, forever after the client left: a zombie every later
 * event is matched against. Ending `live` first settles that pending `next()` with `done`,
 * so the generator runs to its end (its `finally` included) now, and its `return()` settles.
 * It also releases the listener when `return()` comes before the first `next()`, when the
 * generator's body, `finally` and all, never runs.
 */
export function endingLiveOnReturn<T, L>(live: EventStream<L>, body: AsyncGenerator<T>): AsyncIterableIterator<T> {
  const iterator: AsyncIterableIterator<T> = {
    next: () => body.next(),
    async return() {
      await live.return?.();
      return body.return(undefined);
    },
    async throw(error?: unknown) {
      await live.return?.();
      return body.throw(error);
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
