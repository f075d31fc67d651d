import type { FormattedExecutionResult } from 'graphql';

type ExecutionResult<T> = FormattedExecutionResult<T, unknown>;
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Disposers } from './env.js';
import { waitFor } from './wait.js';

export function createWsClient(
  disposers: Disposers,
  url: string,
  options: Partial<Parameters<typeof createClient>[0]> = {},
): Client {
  const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, ...options });
  disposers.add(() => client.dispose());
  return client;
}

export interface Collected<T> {
  results: ExecutionResult<T>[];
  /** Data of every `next` without errors. */
  data(): T[];
  errors(): unknown[];
  /** Resolves once `n` results arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number): Promise<ExecutionResult<T>[]>;
  completed: boolean;
  unsubscribe(): void;
}

/** Subscribes and collects everything that arrives, for assertions. */
export function collect<T = Record<string, unknown>>(
  client: Client,
  query: string,
  variables?: Record<string, unknown>,
): Collected<T> {
  const results: ExecutionResult<T>[] = [];
  const errors: unknown[] = [];
  let wake: (() => void) | null = null;
  const c: Collected<T> = {
    results,
    completed: false,
    data: () => results.filter((r) => !r.errors && r.data).map((r) => r.data as T),
    errors: () => [...errors, ...results.flatMap((r) => r.errors ?? [])],
    async waitFor(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (results.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${n} results, got ${results.length}: ${JSON.stringify(results).slice(0, 500)}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(left, 100));
        });
      }
      return results.slice(0, n);
    },
    unsubscribe: () => undefined,
  };
  c.unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (r) => {
        results.push(r);
        wake?.();
      },
      error: (e) => errors.push(e),
      complete: () => {
        c.completed = true;
      },
    },
  );
  return c;
}

/** A GraphQL request over HTTP POST; returns the parsed body and status. */
export async function gql<T = Record<string, unknown>>(
  httpUrl: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{
  status: number;
  body: ExecutionResult<T> & { errors?: { message: string; extensions?: Record<string, unknown> }[] };
}> {
  const res = await fetch(`${httpUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as never };
}

/** Polls `fn` until it returns a truthy value (the older spelling of `waitFor`). */
export function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  return waitFor(fn, { timeoutMs, what });
}
