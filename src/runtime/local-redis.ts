import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_500 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/**
 * For the all-in-one start: if nothing answers at a local REDIS_URL and `redis-server` is on
 * the PATH, start a private one (data under `dataDir/redis`) on that port, so a new user needs
 * nothing but Node. Returns a stop function, or null when Redis was already there.
 */
export async function ensureLocalRedis(
  url: string,
  dataDir: string,
  log: (m: string) => void,
): Promise<(() => Promise<void>) | null> {
  if (await answers(url)) return null;
  const parsed = new URL(url);
  const onPath = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!LOCAL_HOSTS.has(parsed.hostname) || !onPath) {
    throw new RedisUnavailableError(
      `Nothing answers at REDIS_URL=${url}: start Redis (e.g. \`redis-server\` or \`docker run -p 6379:6379 redis\`) or set REDIS_URL to one that runs.`,
    );
  }
  const dir = path.resolve(dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const port = parsed.port || '6379';
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      port,
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--logfile',
      path.join(dir, 'redis.log'),
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 5_000;
  while (!(await answers(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new RedisUnavailableError(
        `Nothing answered at REDIS_URL=${url}, and the private redis-server could not start (see ${dir}/redis.log).`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  log(
    `No Redis answered at ${url}, so Patternwire started a private redis-server there (data in ${dir}); it stops with this process.`,
  );
  return async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
}
