/**
 * The cleanup that survives the benchmark. Started detached (its own process group, so Ctrl-C
 * does not reach it) with a pipe on stdin; the bench writes one JSON line per resource it creates.
 * If the pipe closes without a `{"done":true}` line — the bench was killed, e.g. by tsx's signal
 * relay escalating to SIGKILL mid-cleanup — it finishes the job: stops the child processes, drops
 * the database, deletes the Redis keys. Every step is idempotent.
 */
import { Redis } from 'ioredis';
import pg from 'pg';

type Resource =
  { pid: number } | { database: string; adminUrl: string } | { redisPattern: string; redisUrl: string } | { done: true };

const pids: number[] = [];
const databases: { database: string; adminUrl: string }[] = [];
const patterns: { redisPattern: string; redisUrl: string }[] = [];
let done = false;
let buffer = '';

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffer += chunk;
  let nl: number;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    if (!line.trim()) continue;
    const r = JSON.parse(line) as Resource;
    if ('done' in r) done = true;
    else if ('pid' in r) pids.push(r.pid);
    else if ('database' in r) databases.push(r);
    else patterns.push(r);
  }
});
process.stdin.on('end', () => {
  if (done) process.exit(0);
  void cleanUp().finally(() => process.exit(0));
});
// Ctrl-C in the bench's terminal is not ours to obey.
for (const signal of ['SIGINT', 'SIGHUP'] as const) process.on(signal, () => undefined);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function cleanUp(): Promise<void> {
  const log = (m: string) => console.error(`[bench janitor] ${m}`);
  log('the benchmark ended without cleaning up; finishing it');
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 5_000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const { database, adminUrl } of databases) {
    const c = new pg.Client({ connectionString: adminUrl });
    try {
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      log(`dropped database ${database}`);
    } catch (err) {
      log(`could not drop ${database}: ${(err as Error).message}`);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
  for (const { redisPattern, redisUrl } of patterns) {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
    try {
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', redisPattern, 'COUNT', 5000);
        cursor = next;
        if (keys.length) n += await redis.unlink(...keys);
      } while (cursor !== '0');
      log(`deleted ${n} Redis keys ${redisPattern}`);
    } catch (err) {
      log(`could not delete Redis keys ${redisPattern}: ${(err as Error).message}`);
    } finally {
      redis.disconnect();
    }
  }
}
