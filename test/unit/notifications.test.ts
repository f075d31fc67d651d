import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { loadConfig, NOTIFY_DEFAULT_ATTEMPTS, NOTIFY_DEFAULT_BACKOFF_MS } from '../../src/config/env.js';
import { forbiddenAddress, ipv6Bytes } from '../../src/domain/addresses.js';
import {
  alertSubject,
  compileRules,
  emailAddressProblem,
  emailContent,
  retryDelayMs,
  retrySpanMs,
  RULE_LIMITS,
  sampleDetection,
  webhookBody,
  webhookUrlProblem,
} from '../../src/domain/notifications.js';
import { generateWebhookSecret, openSecret, sealSecret } from '../../src/domain/webhook-secret.js';
import type { Detection } from '../../src/schema/topics.js';

const detection = (over: Partial<Detection> = {}): Detection => ({
  ...sampleDetection(new Date('2026-11-26T14:30:00.000Z')),
  id: 42,
  eventId: 'e-42',
  source: 'engine',
  metadata: {},
  ...over,
});

describe('the SSRF rule: which addresses a webhook may reach', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.8.9.10', /loopback/],
    ['10.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['169.254.169.254', /link-local/],
    ['100.64.0.1', /carrier-grade/],
    ['0.0.0.0', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /reserved/],
    ['198.18.0.1', /benchmarking/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fc00::1', /unique local/],
    ['fd12:3456::1', /unique local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['ff02::1', /multicast/],
    ['::ffff:127.0.0.1', /IPv4-mapped.*127\.0\.0\.1/],
    ['::ffff:7f00:1', /IPv4-mapped.*127\.0\.0\.1/],
    ['::ffff:8.8.8.8', /IPv4-mapped/],
    ['::10.0.0.1', /IPv4-compatible/],
    ['64:ff9b::a00:1', /NAT64 address of 10\.0\.0\.1, a private/],
    ['2002:a9fe:a9fe::1', /6to4 address of 169\.254\.169\.254, a link-local/],
    ['2001:db8::1', /documentation/],
    ['2001::1', /IETF/],
    ['not-an-ip', /not an IP/],
  ])('%s is refused (%s)', (address, reason) => {
    expect(forbiddenAddress(address)).toMatch(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '64:ff9b::808:808'])(
    '%s is public',
    (address) => {
      expect(forbiddenAddress(address)).toBeNull();
    },
  );

  it('reads the 16 bytes of an IPv6 address, a trailing dotted quad included', () => {
    expect([...ipv6Bytes('::ffff:1.2.3.4')!]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    expect([...ipv6Bytes('2001:db8::2:1')!].slice(12)).toEqual([0, 2, 0, 1]);
    expect(ipv6Bytes('1.2.3.4')).toBeNull();
  });
});

describe('targets', () => {
  it('a webhook URL: https only unless private targets are allowed, no credentials or fragment, 2,048 characters at most', () => {
    expect(webhookUrlProblem('https://hooks.example.com/x', false)).toBeNull();
    expect(webhookUrlProblem('http://hooks.example.com/x', false)).toMatch(/must start with https:\/\/.*WEBHOOK_ALLOW_PRIVATE/);
    expect(webhookUrlProblem('http://127.0.0.1:9/x', true)).toBeNull();
    expect(webhookUrlProblem('ftp://hooks.example.com/x', true)).toMatch(/https:\/\/ or http:\/\//);
    expect(webhookUrlProblem('https://user:pw@hooks.example.com/', false)).toMatch(/user name or password/);
    expect(webhookUrlProblem('https://hooks.example.com/#x', false)).toMatch(/fragment/);
    expect(webhookUrlProblem('not a url', false)).toMatch(/not a URL/);
    const base = 'https://hooks.example.com/';
    const at = (n: number) => base + 'a'.repeat(n - base.length);
    expect(webhookUrlProblem(at(RULE_LIMITS.urlLength), false)).toBeNull();
    expect(webhookUrlProblem(at(RULE_LIMITS.urlLength + 1), false)).toMatch(/at most 2048 characters/);
  });

  it('an email address: one address, with a domain, 254 characters at most', () => {
    expect(emailAddressProblem('trader@example.com')).toBeNull();
    expect(emailAddressProblem('first.last+alerts@mail.example.co.uk')).toBeNull();
    for (const bad of [
      'trader',
      'trader@localhost',
      '@example.com',
      'a@b.com, c@d.com',
      'a\r\nBcc: x@y.com@example.com',
      '"Name" <a@b.com>',
      'a..b@example.com',
    ]) {
      expect(emailAddressProblem(bad), bad).toMatch(/one address/);
    }
    const domain = '@example.com';
    const long = (n: number) => `${'a'.repeat(60)}@${'b'.repeat(n - 60 - domain.length - 1)}${domain}`;
    expect(long(254)).toHaveLength(254);
    expect(emailAddressProblem(long(254))).not.toMatch(/at most/);
    expect(emailAddressProblem(long(255))).toMatch(/at most 254 characters/);
  });
});

describe('matching rules', () => {
  const rule = (id: number, over: Partial<Parameters<typeof compileRules>[0][number]> = {}) => ({
    id,
    minPriority: 'HIGH' as const,
    afterDetectionId: 10,
    filter: { symbols: null, patterns: null, tiers: null, minConfidence: null, minPriority: null },
    ...over,
  });

  it('takes detections above the rule’s start, at or above its priority, matching its watchlist', () => {
    const matcher = compileRules([
      rule(1, { filter: { symbols: ['AAPL'], patterns: null, tiers: null, minConfidence: null, minPriority: null } }),
      rule(2, { minPriority: 'CRITICAL' }),
      rule(3, { afterDetectionId: 100 }),
    ]);
    const d = (id: number, symbol: string, priority: Detection['priority']) => ({ ...detection({ id, symbol, priority }) });
    expect(
      matcher.match([d(10, 'AAPL', 'CRITICAL'), d(11, 'AAPL', 'HIGH'), d(12, 'MSFT', 'CRITICAL'), d(13, 'MSFT', 'MEDIUM')]),
    ).toEqual([
      { ruleId: 1, detectionId: 11 },
      { ruleId: 2, detectionId: 12 },
    ]);
    expect(compileRules([]).size).toBe(0);
  });
});

describe('retries', () => {
  it('10 attempts, their 9 delays doubling, span about two hours', () => {
    expect(NOTIFY_DEFAULT_ATTEMPTS).toBe(10);
    const span = retrySpanMs(NOTIFY_DEFAULT_ATTEMPTS, NOTIFY_DEFAULT_BACKOFF_MS);
    expect(Math.abs(span - 7_200_000)).toBeLessThan(1_000);
    const delays = Array.from({ length: 9 }, (_, i) => retryDelayMs(i + 1, NOTIFY_DEFAULT_BACKOFF_MS));
    expect(delays.reduce((a, b) => a + b, 0)).toBe(span);
    expect(delays[8]).toBe(256 * NOTIFY_DEFAULT_BACKOFF_MS);
  });
});

describe('what is sent', () => {
  it('a webhook body: type, timestamp and data with the detection’s GraphQL fields and the watchlist', () => {
    const at = new Date('2026-11-26T14:30:01.000Z');
    const body = JSON.parse(
      webhookBody({ type: 'pattern.alert', at, watchlist: { id: 7, name: 'Breakouts' }, detection: detection() }),
    );
    expect(body).toEqual({
      type: 'pattern.alert',
      timestamp: '2026-11-26T14:30:01.000Z',
      data: {
        detection: {
          id: '42',
          eventId: 'e-42',
          symbol: 'AAPL',
          pattern: 'BreakoutBO',
          confidence: 0.95,
          tier: 'DAILY',
          priority: 'CRITICAL',
          timeframe: '1d',
          category: null,
          price: null,
          detectedAt: '2026-11-26T14:30:00.000Z',
          receivedAt: '2026-11-26T14:30:00.000Z',
          expiresAt: null,
          source: 'engine',
          metadata: {},
        },
        watchlist: { id: '7', name: 'Breakouts' },
      },
    });
  });

  it('an email: the contract’s subject, a text and an HTML part, every value escaped in HTML', () => {
    expect(alertSubject(detection())).toBe('[CRITICAL] BreakoutBO on AAPL (0.95)');
    const mail = emailContent({
      type: 'pattern.alert',
      at: new Date(),
      watchlist: { id: 1, name: '<script>alert(1)</script> & co' },
      detection: detection({ pattern: 'Cup"&"<Handle>' }),
    });
    expect(mail.subject).toBe('[CRITICAL] Cup"&"<Handle> on AAPL (0.95)');
    expect(mail.text).toContain('Watchlist:    <script>alert(1)</script> & co');
    expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; co');
    expect(mail.html).toContain('Cup&quot;&amp;&quot;&lt;Handle&gt;');
    expect(mail.html).not.toContain('<script>');
    expect(
      emailContent({
        type: 'pattern.alert',
        at: new Date(),
        watchlist: { id: 1, name: 'w' },
        detection: detection({ pattern: 'a\r\nBcc: x' }),
      }).subject,
    ).toBe('[CRITICAL] a Bcc: x on AAPL (0.95)');
  });
});

describe('webhook secrets', () => {
  it('whsec_ and 32 random bytes, usable by a Standard Webhooks library; sealed under a key, or kept plain', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const wh = new Webhook(secret);
    const at = new Date();
    const signature = wh.sign('1', at, '{}');
    expect(
      wh.verify('{}', {
        'webhook-id': '1',
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signature,
      }),
    ).toEqual({});

    const key = randomBytes(32);
    const sealed = sealSecret(secret, key);
    expect(sealed).not.toContain(secret.slice(6));
    expect(openSecret(sealed, key)).toBe(secret);
    expect(() => openSecret(sealed, randomBytes(32))).toThrow(/not the key it was sealed with/);
    expect(() => openSecret(sealed, null)).toThrow(/WEBHOOK_SECRET_KEY is not set/);
    expect(openSecret(sealSecret(secret, null), null)).toBe(secret);
  });
});

describe('notification settings', () => {
  it('defaults: no email, public https webhooks only, 10 s, 10 attempts over ~2 h, an hour’s cap', () => {
    const n = loadConfig({}).notifications;
    expect(n).toMatchObject({
      smtpUrl: null,
      emailFrom: null,
      allowPrivate: false,
      secretKey: null,
      timeoutMs: 10_000,
      attempts: 10,
    });
    expect(n.backoffMs).toBe(14_090);
    expect(n.capWindowMs).toBe(3_600_000);
  });

  it('fails naming the variable: SMTP_URL without EMAIL_FROM, a key that is not 32 bytes, a URL that is no SMTP', () => {
    expect(() => loadConfig({ SMTP_URL: 'smtp://u:p@mail.example.com:587' })).toThrow(/EMAIL_FROM: must be set when SMTP_URL is/);
    expect(() => loadConfig({ SMTP_URL: 'http://mail.example.com', EMAIL_FROM: 'a@b.com' })).toThrow(
      /SMTP_URL: must start with smtp/,
    );
    expect(() => loadConfig({ WEBHOOK_SECRET_KEY: 'short' })).toThrow(/WEBHOOK_SECRET_KEY: must be 32 bytes/);
    const hex = randomBytes(32).toString('hex');
    expect(loadConfig({ WEBHOOK_SECRET_KEY: hex }).notifications.secretKey).toEqual(Buffer.from(hex, 'hex'));
    const b64 = randomBytes(32).toString('base64');
    expect(loadConfig({ WEBHOOK_SECRET_KEY: b64 }).notifications.secretKey).toEqual(Buffer.from(b64, 'base64'));
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE: 'true' }).notifications.allowPrivate).toBe(true);
  });
});
