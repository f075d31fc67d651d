/**
 * The API role in a child process of its own, started with --expose-gc, so a test can read
 * the API's own heap after a forced collection (not the test process's, which holds the
 * clients). Talks over the IPC channel of `fork`:
 *   child → parent  { type: 'ready', port }
 *   parent → child  { type: 'memory' }  →  { type: 'memory', heapUsed, rss } (after GC)
 *   parent → child  { type: 'close' }   →  closes the system and exits
 * Settings come from the environment, as for `patternwire api`.
 */
import { loadConfig } from '../../src/config/env.js';
import { createLifecycle } from '../../src/lib/lifecycle.js';
import { createLogger } from '../../src/lib/logger.js';
import { startSystem } from '../../src/runtime/system.js';

export type GcApiRequest = { type: 'memory' } | { type: 'close' };
export type GcApiReply = { type: 'ready'; port: number } | { type: 'memory'; heapUsed: number; rss: number };

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !process.send) throw new Error('gc-api runs under fork() with --expose-gc');
const send = (m: GcApiReply) => process.send!(m);

const config = loadConfig();
const lifecycle = createLifecycle();
const system = await startSystem(config, { api: true, migrate: true }, lifecycle, createLogger(config.logLevel));

process.on('message', (m: GcApiRequest) => {
  if (m.type === 'memory') {
    void (async () => {
      // A few passes with turns of the event loop between: settled promises and closures
      // released by one pass become collectable only in the next.
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
      const { heapUsed, rss } = process.memoryUsage();
      send({ type: 'memory', heapUsed, rss });
    })();
  } else if (m.type === 'close') {
    void lifecycle.close(15_000).finally(() => process.exit(0));
  }
});
// The parent went away without saying so: do not outlive it.
process.on('disconnect', () => void lifecycle.close(15_000).finally(() => process.exit(0)));

send({ type: 'ready', port: system.api!.port });
