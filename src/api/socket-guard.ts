import type { WebSocket } from 'ws';
import type { Principal } from '../auth/authenticator.js';
import type { DrizzleDb } from '../db/client.js';
import { existingUsers, liveTokenIds } from '../db/identity.js';
import type { Logger } from '../lib/logger.js';

/** graphql-ws's Forbidden: the credential is no longer good (contract §5). */
export const FORBIDDEN_CLOSE_CODE = 4403;
/** Policy violation: too many sockets for one user. */
export const POLICY_CLOSE_CODE = 1008;

export interface SocketGuard {
  /**
   * Admits an authenticated socket; false when its holder already has `maxPerUser` on this
   * process. The holder is the user, or with AUTH_MODE=off (everyone the same anonymous user)
   * the client's address.
   */
  admit(socket: WebSocket, principal: Principal, address: string): boolean;
  release(socket: WebSocket): void;
  close(): void;
}

export interface SocketGuardOptions {
  db: DrizzleDb;
  maxPerUser: number;
  /** How often every open socket's credential is checked again. */
  recheckMs: number;
  logger: Logger;
}

/**
 * Open WebSockets and who holds them. Every `recheckMs`, one query per kind asks which of their
 * tokens are still live and which users still exist: a token revoked or expired, or a user
 * deleted — through GraphQL on any API process, or the command line — loses its sockets (4403)
 * within that period, with no message between processes to lose. A role changed meanwhile is
 * taken over, so a demoted admin's socket stops being an admin's.
 */
export function createSocketGuard(o: SocketGuardOptions): SocketGuard {
  const sockets = new Map<WebSocket, { principal: Principal; holder: string }>();
  const perHolder = new Map<string, number>();
  let checking = false;

  const drop = (socket: WebSocket, reason: string) => {
    const p = sockets.get(socket)?.principal;
    o.logger.info(`[api] closing a WebSocket of user ${p?.name ?? '?'}: ${reason}`, { userId: p?.userId, tokenId: p?.tokenId });
    socket.close(FORBIDDEN_CLOSE_CODE, reason);
  };

  async function recheck(): Promise<void> {
    if (checking || sockets.size === 0) return;
    checking = true;
    try {
      // The sockets open now. One admitted while the queries run is not in them, so it is not
      // judged by answers that never asked about it (it was authenticated a moment ago).
      const open = [...sockets.entries()];
      const tokenIds = [...new Set(open.flatMap(([, s]) => (s.principal.tokenId === null ? [] : [s.principal.tokenId])))];
      const userIds = [...new Set(open.map(([, s]) => s.principal.userId))];
      const [live, users] = await Promise.all([liveTokenIds(o.db, tokenIds), existingUsers(o.db, userIds)]);
      const now = Date.now();
      for (const [socket, entry] of open) {
        if (sockets.get(socket) !== entry) continue; // closed meanwhile
        const p = entry.principal;
        const role = users.get(p.userId);
        if (role === undefined) drop(socket, 'Forbidden: the user was deleted');
        else if (p.tokenId !== null && !live.has(p.tokenId)) drop(socket, 'Forbidden: the token was revoked or has expired');
        else if (p.expiresAt && p.expiresAt.getTime() <= now) drop(socket, 'Forbidden: the credential has expired');
        else p.role = role;
      }
    } catch (err) {
      o.logger.warn(`[api] could not re-check WebSocket credentials: ${(err as Error).message}`);
    } finally {
      checking = false;
    }
  }

  const timer = setInterval(() => void recheck(), o.recheckMs);
  timer.unref();

  return {
    admit(socket, principal, address) {
      const holder = principal.credentialKey === 'anonymous' ? `ip:${address}` : `user:${principal.userId}`;
      const held = perHolder.get(holder) ?? 0;
      if (held >= o.maxPerUser) return false;
      perHolder.set(holder, held + 1);
      sockets.set(socket, { principal, holder });
      return true;
    },
    release(socket) {
      const s = sockets.get(socket);
      if (!s) return;
      sockets.delete(socket);
      const held = (perHolder.get(s.holder) ?? 1) - 1;
      if (held > 0) perHolder.set(s.holder, held);
      else perHolder.delete(s.holder);
    },
    close() {
      clearInterval(timer);
    },
  };
}
