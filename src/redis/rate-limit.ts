import { withTimeout } from '../lib/timeout.js';
import type { RedisClient } from './connections.js';

/**
 * A token bucket in Redis, so every API process draws from one count per credential: `rate`
 * tokens a second, at most `burst` saved up. One Lua script per request (one round trip,
 * atomic), timed by the Redis server's clock, so processes on machines whose clocks disagree
 * still share one rate. An idle bucket expires once it would be full again.
 */
const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry}
`;

export interface RateLimit {
  /**
   * Takes one token for `key`; when none is left, says how long until one is. With Redis not
   * answering (down, or slower than `timeoutMs`) the request is let through: reads from
   * PostgreSQL should not stop because the counter is away, and a command must not wait in
   * ioredis's offline queue for every request meanwhile.
   */
  take(key: string): Promise<{ allowed: true } | { allowed: false; retryAfterMs: number }>;
}

export function createRateLimit(
  redis: RedisClient,
  o: { prefix: string; perSecond: number; burst: number; timeoutMs?: number; onUnavailable?: (reason: string) => void },
): RateLimit {
  redis.defineCommand('patternwireTakeToken', { numberOfKeys: 1, lua: SCRIPT });
  const take = (
    redis as unknown as { patternwireTakeToken(key: string, rate: number, burst: number): Promise<[number, number]> }
  ).patternwireTakeToken.bind(redis);
  return {
    async take(key) {
      if (redis.status !== 'ready') {
        o.onUnavailable?.(`Redis is ${redis.status}`);
        return { allowed: true };
      }
      try {
        const [allowed, retryAfterMs] = await withTimeout(
          take(`${o.prefix}:rate:${key}`, o.perSecond, o.burst),
          o.timeoutMs ?? 250,
        );
        return allowed === 1 ? { allowed: true } : { allowed: false, retryAfterMs };
      } catch (err) {
        o.onUnavailable?.((err as Error).message);
        return { allowed: true };
      }
    },
  };
}
