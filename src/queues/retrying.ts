import type { RedisClient } from '../redis/connections.js';

/**
 * Jobs that failed with a fault and wait for their next attempt, with the time of their first
 * failure: a Redis sorted set every worker writes and every API process reads, so a job that
 * keeps retrying is visible in `systemHealth` whichever process it runs on. Only jobs that have
 * failed touch it; a job that succeeds first time costs nothing here.
 */
export interface RetryingJobs {
  /** A job failed and will be retried; the first failure's time is kept. */
  failed(queue: string, jobId: string, at: number): Promise<void>;
  /** The job completed or failed for good. */
  settled(queue: string, jobId: string): Promise<void>;
  /** How many retry, and the oldest (by first failure), if any. */
  read(): Promise<{ count: number; oldest: { queue: string; jobId: string; since: number } | null }>;
}

export function createRetryingJobs(redis: RedisClient, prefix: string): RetryingJobs {
  const key = `${prefix}:retrying`;
  const member = (queue: string, jobId: string) => `${queue}:${jobId}`;
  return {
    async failed(queue, jobId, at) {
      await redis.zadd(key, 'NX', at, member(queue, jobId));
    },
    async settled(queue, jobId) {
      await redis.zrem(key, member(queue, jobId));
    },
    async read() {
      const [count, first] = await Promise.all([redis.zcard(key), redis.zrange(key, 0, 0, 'WITHSCORES')]);
      const [name, score] = first;
      if (name === undefined || score === undefined) return { count, oldest: null };
      const at = name.indexOf(':');
      return { count, oldest: { queue: name.slice(0, at), jobId: name.slice(at + 1), since: Number(score) } };
    },
  };
}
