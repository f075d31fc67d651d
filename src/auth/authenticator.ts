import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { DrizzleDb } from '../db/client.js';
import { createUser, findLiveToken, findUserByName, touchToken, upsertExternalUser } from '../db/identity.js';
import { hashToken, looksLikeToken, USER_NAME } from '../domain/credentials.js';
import type { Logger } from '../lib/logger.js';
import type { Role } from '../schema/db.js';

/** Who a request or a WebSocket is (contract §5). */
export interface Principal {
  userId: number;
  name: string;
  /** Updated in place when a socket's periodic re-check finds the role changed. */
  role: Role;
  /** The API token presented; null for a JWT or with AUTH_MODE=off. */
  tokenId: number | null;
  /** When the credential stops being valid (a token's expiry, a JWT's `exp`). */
  expiresAt: Date | null;
  /** What rate limits count against: one bucket per credential. */
  credentialKey: string;
}

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: string };

export interface JwtSettings {
  /** HS256 shared secret. */
  secret: string | null;
  /** A JWKS document's URL (keys rotated by the host application). */
  jwksUrl: string | null;
  issuer: string | null;
  audience: string | null;
}

export interface AuthenticatorOptions {
  db: DrizzleDb;
  mode: 'required' | 'off';
  jwt: JwtSettings;
  logger: Logger;
}

export interface Authenticator {
  readonly mode: 'required' | 'off';
  /** The credential of `Authorization: Bearer …` (or graphql-ws connectionParams), or null when none was sent. */
  authenticate(credential: string | null): Promise<AuthResult>;
}

/** A token's `last_used_at` is written at most this often: not one UPDATE per request. */
const TOUCH_EVERY_MS = 60_000;
const ROLE_CLAIM = 'patternwire_role';

export function createAuthenticator(o: AuthenticatorOptions): Authenticator {
  const touched = new Map<number, number>();
  const jwtKey: Uint8Array | JWTVerifyGetKey | null = o.jwt.secret
    ? new TextEncoder().encode(o.jwt.secret)
    : o.jwt.jwksUrl
      ? createRemoteJWKSet(new URL(o.jwt.jwksUrl))
      : null;
  let anonymous: Principal | null = null;

  async function viaToken(credential: string): Promise<AuthResult> {
    const token = await findLiveToken(o.db, hashToken(credential));
    if (!token) return { ok: false, reason: 'the token is unknown, revoked or expired' };
    const now = Date.now();
    if (now - (touched.get(token.id) ?? 0) >= TOUCH_EVERY_MS) {
      touched.set(token.id, now);
      void touchToken(o.db, token.id).catch((err: Error) =>
        o.logger.warn(`[auth] could not record a token's use: ${err.message}`, { tokenId: token.id, userId: token.user.id }),
      );
    }
    return {
      ok: true,
      principal: {
        userId: token.user.id,
        name: token.user.name,
        role: token.user.role,
        tokenId: token.id,
        expiresAt: token.expiresAt,
        credentialKey: `token:${token.id}`,
      },
    };
  }

  async function viaJwt(credential: string): Promise<AuthResult> {
    if (!jwtKey) return { ok: false, reason: 'the credential is not an API token, and no JWT issuer is configured' };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(credential, jwtKey as Uint8Array, {
        ...(o.jwt.secret ? { algorithms: ['HS256'] } : {}),
        ...(o.jwt.issuer ? { issuer: o.jwt.issuer } : {}),
        ...(o.jwt.audience ? { audience: o.jwt.audience } : {}),
      }));
    } catch (err) {
      return { ok: false, reason: `the JWT was not accepted: ${(err as Error).message}` };
    }
    const name = payload.sub;
    if (typeof name !== 'string' || !USER_NAME.test(name))
      return { ok: false, reason: 'the JWT\'s "sub" is not a valid user name' };
    const claim = payload[ROLE_CLAIM];
    if (claim !== undefined && claim !== 'reader' && claim !== 'admin') {
      return { ok: false, reason: `the JWT's "${ROLE_CLAIM}" must be "reader" or "admin"` };
    }
    // The claim sets the role; without one, a new user is a READER and a known one keeps its role.
    const user =
      claim !== undefined
        ? await upsertExternalUser(o.db, name, claim === 'admin' ? 'ADMIN' : 'READER')
        : ((await findUserByName(o.db, name)) ?? (await upsertExternalUser(o.db, name, 'READER')));
    return {
      ok: true,
      principal: {
        userId: user.id,
        name: user.name,
        role: user.role,
        tokenId: null,
        expiresAt: payload.exp ? new Date(payload.exp * 1000) : null,
        credentialKey: `jwt:${user.id}`,
      },
    };
  }

  async function anonymousAdmin(): Promise<Principal> {
    if (anonymous) return anonymous;
    const user =
      (await findUserByName(o.db, 'anonymous')) ??
      (await createUser(o.db, 'anonymous', 'ADMIN')) ??
      (await findUserByName(o.db, 'anonymous'))!;
    anonymous = { userId: user.id, name: user.name, role: 'ADMIN', tokenId: null, expiresAt: null, credentialKey: 'anonymous' };
    return anonymous;
  }

  return {
    mode: o.mode,
    async authenticate(credential) {
      if (o.mode === 'off') return { ok: true, principal: await anonymousAdmin() };
      if (!credential) return { ok: false, reason: 'no credential: send Authorization: Bearer <token>' };
      return looksLikeToken(credential) ? viaToken(credential) : viaJwt(credential);
    },
  };
}
