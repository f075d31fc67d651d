import { createLifecycle } from '../../src/lib/lifecycle.js';
import { createLogger } from '../../src/lib/logger.js';
import { startSystem, type Roles, type RunningSystem } from '../../src/runtime/system.js';
import type { Config } from '../../src/config/env.js';
import type { Disposers } from './env.js';

export interface TestSystem extends RunningSystem {
  /** http://127.0.0.1:PORT (when the API role runs) */
  httpUrl: string;
  /** ws://127.0.0.1:PORT/graphql */
  wsUrl: string;
  /** What the system logged, as `level: message`. */
  logs: string[];
  close(): Promise<void>;
}

/** The real system, in this process, on port 0; closed by the disposers. */
export async function startTestSystem(
  disposers: Disposers,
  config: Config,
  roles: Roles = { api: true, ingest: true, worker: true, migrate: true },
): Promise<TestSystem> {
  const logs: string[] = [];
  const lifecycle = createLifecycle();
  const system = await startSystem(
    config,
    roles,
    lifecycle,
    createLogger('debug', (level, m) => logs.push(`${level}: ${m}`)),
  );
  const close = () => lifecycle.close(15_000);
  disposers.add(close);
  const port = system.api?.port ?? 0;
  return {
    ...system,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    logs,
    close,
  };
}
