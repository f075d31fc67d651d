/**
 * The gate every GraphQL and REST request passes before any work (contract §5): who is asking
 * (401 without a good credential), then the rate limit of that credential (429), shared by every
 * API process through Redis. GraphiQL's page and assets and /healthz are not behind it. Each
 * operation a WebSocket starts draws from the same count (`limitOperation`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator, Principal } from '../auth/authenticator.js';
import { bearerCredential } from '../domain/credentials.js';
import type { RateLimit } from '../redis/rate-limit.js';
import type { GraphQLError } from 'graphql';
import { rateLimited } from './errors.js';

export interface RequestGate {
  /** The principal of the request, or null once a 401 or 429 has been sent. */
  admit(req: IncomingMessage, res: ServerResponse, shape: 'graphql' | 'rest'): Promise<Principal | null>;
  /**
   * The rate limit alone, for a principal known another way (an admin session's cookie): true
   * when the request may go on, false once the 429 has been sent.
   */
  limit(req: IncomingMessage, res: ServerResponse, principal: Principal, shape: 'graphql' | 'rest'): Promise<boolean>;
  /**
   * The rate limit for an operation a WebSocket starts (`address`: the socket's peer): null when
   * it may run, else the RATE_LIMITED error to answer it with. The socket stays open.
   */
  limitOperation(principal: Principal, address: string | undefined): Promise<GraphQLError | null>;
}

export interface RequestGateOptions {
  auth: Authenticator;
  rateLimit: RateLimit;
  /** For the 429's sentence: the limit as configured. */
  perSecond: number;
  burst: number;
  send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void;
}

export function createRequestGate(o: RequestGateOptions): RequestGate {
  const refuse = (
    res: ServerResponse,
    shape: 'graphql' | 'rest',
    status: number,
    code: string,
    message: string,
    headers: Record<string, string>,
  ) =>
    o.send(
      res,
      status,
      shape === 'graphql' ? { errors: [{ message, extensions: { code } }] } : { error: message, code },
      headers,
    );

  /** Seconds to wait when the principal is past its rate, else null. */
  async function take(p: Principal, address: string | undefined): Promise<number | null> {
    // With AUTH_MODE=off everyone is the same anonymous user: count per address instead.
    const key = p.credentialKey === 'anonymous' ? `ip:${address ?? '?'}` : p.credentialKey;
    const taken = await o.rateLimit.take(key);
    return taken.allowed ? null : Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
  }
  const tooMany = (seconds: number) =>
    `Too many requests: at most ${o.perSecond} a second (bursts of ${o.burst}) per credential ` +
    `(RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST); retry after ${seconds} s.`;

  async function limit(req: IncomingMessage, res: ServerResponse, p: Principal, shape: 'graphql' | 'rest'): Promise<boolean> {
    const seconds = await take(p, req.socket.remoteAddress);
    if (seconds === null) return true;
    refuse(res, shape, 429, 'RATE_LIMITED', tooMany(seconds), { 'Retry-After': String(seconds) });
    return false;
  }

  return {
    limit,
    async limitOperation(p, address) {
      const seconds = await take(p, address);
      return seconds === null ? null : rateLimited(tooMany(seconds));
    },
    async admit(req, res, shape) {
      const result = await o.auth.authenticate(bearerCredential(req.headers.authorization));
      if (!result.ok) {
        refuse(res, shape, 401, 'UNAUTHENTICATED', `Not signed in: ${result.reason}.`, { 'WWW-Authenticate': 'Bearer' });
        return null;
      }
      return (await limit(req, res, result.principal, shape)) ? result.principal : null;
    },
  };
}
