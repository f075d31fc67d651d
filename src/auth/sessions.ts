/**
 * Browser sessions for `/admin/queues` (contract §8): the dashboard's sign-in trades its
 * credential (`POST /session` with `Authorization: Bearer …`) for an `HttpOnly`,
 * `SameSite=Strict` cookie that only `/admin/queues` accepts, since bull-board's page cannot send
 * an `Authorization` header.
 *
 * The cookie holds an opaque random id (256 bits), never the credential. Redis keeps the
 * session under the id's SHA-256 (a copy of Redis holds nothing a browser could present), with
 * the user, the token it came from and its expiry, for the shorter of the credential's life and
 * `SESSION_MAX_SECONDS`. Every use checks again that the token is live and the user exists, and
 * takes the user's role as it is now: a revoked token, a deleted user or a demoted admin loses
 * the board at the next request. A credential holds at most `MAX_SESSIONS_PER_CREDENTIAL`; a new
 * one past that ends the oldest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { DrizzleDb } from '../db/client.js';
import { findUserById, liveTokenIds } from '../db/identity.js';
import type { RedisClient } from '../redis/connections.js';
import type { Principal } from './authenticator.js';

export const SESSION_COOKIE = 'pw_session';
/** The cookie is sent with `/admin/…` requests only; the server accepts it on `/admin/queues` only. */
export const SESSION_COOKIE_PATH = '/admin';
export const SESSION_MAX_SECONDS = 12 * 3_600;
export const MAX_SESSIONS_PER_CREDENTIAL = 20;

/** 32 random bytes in base64url: what a cookie value must look like before Redis is asked. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

const stored = z.object({
  userId: z.number().int(),
  tokenId: z.number().int().nullable(),
  credentialKey: z.string(),
  /** ms since the epoch; null: the credential does not expire (the session still does). */
  expiresAt: z.number().nullable(),
});
type StoredSession = z.infer<typeof stored>;

export interface NewSession {
  /** The cookie's value. */
  id: string;
  maxAgeSeconds: number;
}

export interface Sessions {
  /** A session for `principal`; null when its credential expires within a second. */
  create(principal: Principal): Promise<NewSession | null>;
  /** Who a cookie's value is, checked again now; null when unknown, expired, revoked or deleted. */
  resolve(id: string): Promise<Principal | null>;
  /** Ends every session made from one credential (`Principal.credentialKey`). */
  endAllOf(credentialKey: string): Promise<number>;
}

export interface SessionsOptions {
  redis: RedisClient;
  db: DrizzleDb;
  /** The deployment's key prefix (`QUEUE_PREFIX`, a Redis Cluster hash tag): all keys share one slot. */
  prefix: string;
}

export function createSessions(o: SessionsOptions): Sessions {
  const hashOf = (id: string) => createHash('sha256').update(id).digest('base64url');
  const sessionKey = (hash: string) => `${o.prefix}:session:${hash}`;
  const credentialKeyOf = (credentialKey: string) => `${o.prefix}:sessions:${credentialKey}`;

  return {
    async create(p) {
      const now = Date.now();
      const expiresAt = p.expiresAt?.getTime() ?? null;
      const ms = Math.min(SESSION_MAX_SECONDS * 1000, expiresAt === null ? Infinity : expiresAt - now);
      if (ms < 1_000) return null;
      const id = randomBytes(32).toString('base64url');
      const hash = hashOf(id);
      const value: StoredSession = { userId: p.userId, tokenId: p.tokenId, credentialKey: p.credentialKey, expiresAt };
      const list = credentialKeyOf(p.credentialKey);
      const replies = await o.redis
        .multi()
        .set(sessionKey(hash), JSON.stringify(value), 'PX', ms)
        .zadd(list, now, hash)
        .pexpire(list, SESSION_MAX_SECONDS * 1000)
        .zcard(list)
        .exec();
      const failed = replies?.find(([err]) => err !== null);
      if (!replies || failed) throw failed?.[0] ?? new Error('the session was not stored (MULTI aborted)');
      const excess = Number(replies[3]?.[1] ?? 0) - MAX_SESSIONS_PER_CREDENTIAL;
      if (excess > 0) {
        // The oldest first; a session that expired on its own is only a stale entry here.
        const oldest = await o.redis.zpopmin(list, excess);
        const hashes = oldest.filter((_, i) => i % 2 === 0);
        if (hashes.length > 0) await o.redis.del(...hashes.map(sessionKey));
      }
      return { id, maxAgeSeconds: Math.floor(ms / 1000) };
    },

    async resolve(id) {
      if (!SESSION_ID.test(id)) return null;
      const key = sessionKey(hashOf(id));
      const raw = await o.redis.get(key);
      if (raw === null) return null;
      let session: StoredSession;
      try {
        session = stored.parse(JSON.parse(raw));
      } catch {
        return null;
      }
      if (session.expiresAt !== null && session.expiresAt <= Date.now()) return null;
      const [user, live] = await Promise.all([
        findUserById(o.db, session.userId),
        session.tokenId === null ? null : liveTokenIds(o.db, [session.tokenId]),
      ]);
      if (!user || (live && !live.has(session.tokenId!))) {
        await o.redis.del(key);
        return null;
      }
      return {
        userId: user.id,
        name: user.name,
        role: user.role,
        tokenId: session.tokenId,
        expiresAt: session.expiresAt === null ? null : new Date(session.expiresAt),
        credentialKey: session.credentialKey,
      };
    },

    async endAllOf(credentialKey) {
      const list = credentialKeyOf(credentialKey);
      const hashes = await o.redis.zrange(list, 0, -1);
      await o.redis.del(list, ...hashes.map(sessionKey));
      return hashes.length;
    },
  };
}
