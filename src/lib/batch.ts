/**
 * Group commit for small statements: callers hand in one item each; while a batch is being
 * run, whatever arrives waits and goes in the next one (at most `max`). Quiet, a batch is one
 * item and waits for nothing; busy, N callers share one round trip instead of queueing N on a
 * connection pool.
 */
export function createBatcher<I, R>(run: (items: I[]) => Promise<R[]>, max = 100): (item: I) => Promise<R> {
  const queue: { item: I; resolve(r: R): void; reject(e: unknown): void }[] = [];
  let running = false;

  async function drain(): Promise<void> {
    running = true;
    while (queue.length > 0) {
      const batch = queue.splice(0, max);
      try {
        const results = await run(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(results[i]!));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    running = false;
  }

  return (item) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!running) void drain();
    });
}
