import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * A webhook rule's signing secret (contract §7): `whsec_` and the base64 of 32 random bytes,
 * the form every Standard Webhooks library takes. It is shown once, at creation; the worker
 * must sign with it, so it is kept — not hashed — sealed with AES-256-GCM under
 * WEBHOOK_SECRET_KEY when that is set (a database dump alone then signs nothing), else as is.
 * Either way it is never returned by the API again and never logged.
 */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

const SEALED = 'aes-256-gcm:';
const PLAIN = 'plain:';

/** The stored form of `secret`: sealed under `key` (32 bytes) when given. */
export function sealSecret(secret: string, key: Buffer | null): string {
  if (!key) return PLAIN + secret;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return `${SEALED}${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${sealed.toString('base64')}`;
}

/** The secret back from its stored form; throws a sentence saying what is missing or wrong. */
export function openSecret(stored: string, key: Buffer | null): string {
  if (stored.startsWith(PLAIN)) return stored.slice(PLAIN.length);
  if (!stored.startsWith(SEALED)) throw new Error('the stored webhook secret has an unknown form');
  if (!key) throw new Error('the webhook secret is sealed, and WEBHOOK_SECRET_KEY is not set on this process');
  const [iv, tag, data] = stored.slice(SEALED.length).split(':');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv ?? '', 'base64'));
    decipher.setAuthTag(Buffer.from(tag ?? '', 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(data ?? '', 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new Error('the webhook secret could not be opened: WEBHOOK_SECRET_KEY is not the key it was sealed with');
  }
}
