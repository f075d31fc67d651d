/**
 * Ordered teardown: resources are registered as they are created and released in reverse,
 * so a process stops taking work first (API, ingest), finishes what it holds (workers),
 * and closes its connections last.
 */
export interface Lifecycle {
  /** Registers a teardown step; steps run last-registered first. */
  defer(name: string, step: () => Promise<void> | void): void;
  /** Runs every step once, in reverse order, within `timeoutMs`; rejects if time runs out. */
  close(timeoutMs: number): Promise<void>;
}

export function createLifecycle(log: (message: string) => void = () => {}): Lifecycle {
  const steps: { name: string; step: () => Promise<void> | void }[] = [];
  let closing: Promise<void> | null = null;

  async function runAll(): Promise<void> {
    while (steps.length > 0) {
      const { name, step } = steps.pop()!;
      try {
        await step();
        log(`[shutdown] ${name} closed`);
      } catch (err) {
        log(`[shutdown] ${name} failed to close: ${(err as Error).message}`);
      }
    }
  }

  return {
    defer(name, step) {
      steps.push({ name, step });
    },
    close(timeoutMs) {
      closing ??= new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`shutdown took longer than ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
        runAll().then(() => {
          clearTimeout(timer);
          resolve();
        }, reject);
      });
      return closing;
    },
  };
}

/**
 * SIGINT/SIGTERM close the lifecycle and exit: 0 when everything closed in time, 1 otherwise.
 * A second signal exits at once.
 */
export function exitOnSignals(lifecycle: Lifecycle, timeoutMs: number, log: (message: string) => void): void {
  let received = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      log(`[shutdown] ${signal} again: exiting now`);
      process.exit(1);
    }
    received = true;
    log(`[shutdown] ${signal}: stopping (at most ${timeoutMs} ms)`);
    lifecycle.close(timeoutMs).then(
      () => process.exit(0),
      (err: Error) => {
        log(`[shutdown] ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
