import { createHash, randomBytes } from 'node:crypto';

/**
 * API tokens (contract §5): `pw_` and 43 base64url characters, 256 random bits. Only the
 * SHA-256 of the whole token is stored; the token itself is shown once, at creation.
 */
const TOKEN = /^pw_[A-Za-z0-9_-]{43}$/;

export interface NewTokenSecret {
  token: string;
  hash: Buffer;
}

export function generateToken(): NewTokenSecret {
  const token = `pw_${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export function looksLikeToken(credential: string): boolean {
  return TOKEN.test(credential);
}

/** The credential of an `Authorization: Bearer <credential>` value; null for anything else. */
export function bearerCredential(header: string | null | undefined): string | null {
  const m = /^Bearer\s+(\S{1,8192})\s*$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

/** User names: 1 to 64 of a-z 0-9 . _ - (contract §5). */
export const USER_NAME = /^[a-z0-9._-]{1,64}$/;
export const USER_NAME_RULE = '1 to 64 characters of a-z 0-9 . _ -';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 };

/** `30d`, `12h`, `90m`, `45s`, `2w` → seconds; null when it is none of these. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!m) return null;
  const seconds = Number(m[1]) * UNITS[m[2]!]!;
  return seconds > 0 ? seconds : null;
}
