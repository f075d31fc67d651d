import { describe, expect, it } from 'vitest';
import {
  bearerCredential,
  generateToken,
  hashToken,
  looksLikeToken,
  parseDuration,
  USER_NAME,
} from '../../src/domain/credentials.js';

describe('API tokens', () => {
  it('are pw_ and 43 base64url characters (256 bits), different every time, stored as their SHA-256', () => {
    const a = generateToken();
    const b = generateToken();
    expect(a.token).toMatch(/^pw_[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(looksLikeToken(a.token)).toBe(true);
    expect(a.hash).toEqual(hashToken(a.token));
    expect(a.hash).toHaveLength(32);
  });

  it('a credential that is not in the format is not a token', () => {
    for (const c of ['pw_', 'pw_short', `px_${'a'.repeat(43)}`, `pw_${'a'.repeat(44)}`, `pw_${'a'.repeat(42)}=`])
      expect(looksLikeToken(c)).toBe(false);
  });
});

describe('Authorization header', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['Bearer   abc  ', 'abc'],
    ['Basic abc', null],
    ['Bearer', null],
    ['Bearer a b', null],
    [undefined, null],
  ])('%j → %j', (header, credential) => expect(bearerCredential(header)).toBe(credential));
});

describe('durations and names', () => {
  it.each([
    ['30d', 2_592_000],
    ['12h', 43_200],
    ['90m', 5_400],
    ['45s', 45],
    ['2w', 1_209_600],
    ['0d', null],
    ['1y', null],
    ['d', null],
    ['-1d', null],
  ])('%s → %j', (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it('user names are 1..64 of a-z 0-9 . _ -', () => {
    expect(USER_NAME.test('alice.b_c-9')).toBe(true);
    for (const bad of ['', 'Alice', 'a b', 'a'.repeat(65), 'ä']) expect(USER_NAME.test(bad)).toBe(false);
  });
});
