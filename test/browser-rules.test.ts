import { describe, expect, it } from 'vitest';
import { cleanLogMessage, createLogger, cutToBytes, LOG_MESSAGE_MAX_BYTES, redactSecrets } from '../src/lib/logger.js';

/** Contract §5, "Browsers": log hygiene. */
const TOKEN = `pw_${'Ab3_-x9Z'.repeat(5)}Q7k`;

describe('logs', () => {
  const jwt =
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInBhdHRlcm53aXJlX3JvbGUiOiJhZG1pbiJ9.3q2-7wYk0bN8lJm1Qd_Zc9XoPz4aLr6sTuVw2xYyE1k';

  it('redacts API tokens, Bearer credentials, JWTs and Authorization values', () => {
    const cases: [string, string][] = [
      [`token ${TOKEN} revoked`, 'token pw_[redacted] revoked'],
      [`Authorization: Bearer ${TOKEN}`, 'Authorization: Bearer pw_[redacted]'],
      [`authorization: Bearer ${jwt}`, 'authorization: Bearer [redacted JWT]'],
      [`got ${jwt}.`, 'got [redacted JWT].'],
      ['headers: {"authorization":"Bearer abc.def-ghi_jkl"}', 'headers: {"authorization":"Bearer [redacted]"}'],
      ['authorization=Basic dXNlcjpwYXNzd29yZA==', 'authorization=[redacted]'],
      ['bearer 0123456789abcdef', 'bearer [redacted]'],
      [`a token cut short: ${TOKEN.slice(0, 40)}`, 'a token cut short: pw_[redacted]'],
    ];
    for (const [input, expected] of cases) expect(redactSecrets(input)).toBe(expected);
    // Ordinary messages are left alone.
    for (const plain of [
      'Authorization header missing: send Bearer token',
      'database pw_apival_1a2b3c4d created',
      '[api] POST /graphql failed: Error: boom\n    at route (server.ts:12:3)',
    ]) {
      expect(redactSecrets(plain)).toBe(plain);
    }
  });

  it('cuts a message at 1 KiB of UTF-8, never inside a character, saying how long it was', () => {
    expect(cutToBytes('short')).toBe('short');
    const exact = 'a'.repeat(LOG_MESSAGE_MAX_BYTES);
    expect(cutToBytes(exact)).toBe(exact);

    const long = cutToBytes('a'.repeat(5_000));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(LOG_MESSAGE_MAX_BYTES);
    expect(long).toMatch(/^a{900,} … \[cut: 5000 bytes\]$/);

    const euros = cutToBytes('€'.repeat(1_000)); // 3 bytes each
    expect(Buffer.byteLength(euros)).toBeLessThanOrEqual(LOG_MESSAGE_MAX_BYTES);
    expect(euros).toMatch(/^€+ … \[cut: 3000 bytes\]$/);
    expect(euros).not.toContain('\uFFFD');
  });

  it('the logger cleans every message: a token across the 1 KiB cut leaves nothing behind', () => {
    const lines: string[] = [];
    const logger = createLogger('debug', (level, m) => lines.push(`${level}: ${m}`));
    const message = `${'x'.repeat(LOG_MESSAGE_MAX_BYTES - 30)} ${TOKEN} ${'y'.repeat(3_000)}`;
    logger.error(message);
    logger.info(`request with authorization: Bearer ${jwt}`);
    expect(lines[0]!.startsWith('error: xxx')).toBe(true);
    expect(Buffer.byteLength(lines[0]!.slice('error: '.length))).toBeLessThanOrEqual(LOG_MESSAGE_MAX_BYTES);
    expect(lines[0]).not.toContain(TOKEN.slice(0, 12));
    expect(lines[1]).toBe('info: request with authorization: Bearer [redacted JWT]');
    expect(cleanLogMessage(message)).toBe(lines[0]!.slice('error: '.length));
  });
});
