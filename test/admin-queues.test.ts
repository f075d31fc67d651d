/**
 * Contract §8's `/admin/queues` (bull-board) and the session cookie that signs a browser in to
 * it (`POST /session`, `DELETE /session`), against the real API with authentication on: who gets
 * the board, what the cookie holds and where it counts (nowhere but the board), how it ends; and
 * in headless chromium, the board under its own CSP after a same-origin sign-in.
 */
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_QUEUES_CSP } from '../src/api/csp.js';
import { MAX_SESSIONS_PER_CREDENTIAL, SESSION_MAX_SECONDS } from '../src/auth/sessions.js';
import { codeOf, createTestUser, gqlAs, type TestUser } from './utils/auth.js';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { startTestSystem, type TestSystem } from './utils/system.js';

const disposers = createDisposers();
afterAll(() => disposers.run());

const LISTED_ORIGIN = 'http://dashboard.example';
let t: TestEnv;
let system: TestSystem;
let admin: TestUser;
let reader: TestUser;

beforeAll(async () => {
  t = await createTestEnv(disposers, 'adminq', { AUTH_MODE: 'required', CORS_ORIGINS: LISTED_ORIGIN });
  system = await startTestSystem(disposers, t.config, { api: true, migrate: true });
  admin = await createTestUser(t.env['DATABASE_URL']!, 'boss', 'ADMIN');
  reader = await createTestUser(t.env['DATABASE_URL']!, 'viewer', 'READER');
}, 60_000);

interface Cookie {
  name: string;
  value: string;
  attributes: Map<string, string>;
}

function parseSetCookie(header: string | null): Cookie {
  expect(header, 'a Set-Cookie header').not.toBeNull();
  const [pair, ...rest] = header!.split(';').map((p) => p.trim());
  const eq = pair!.indexOf('=');
  const attributes = new Map(
    rest.map((a) => {
      const i = a.indexOf('=');
      return i < 0 ? [a.toLowerCase(), ''] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)];
    }),
  );
  return { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), attributes };
}

async function signIn(token: string, headers: Record<string, string> = {}): Promise<Cookie> {
  const res = await fetch(`${system.httpUrl}/session`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
  expect(res.status, await res.clone().text()).toBe(204);
  return parseSetCookie(res.headers.get('set-cookie'));
}

const withCookie = (cookie: Cookie, headers: Record<string, string> = {}) => ({
  cookie: `${cookie.name}=${cookie.value}`,
  ...headers,
});

describe('POST /session', () => {
  it('refuses without a good credential', async () => {
    const none = await fetch(`${system.httpUrl}/session`, { method: 'POST' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(none.headers.get('set-cookie')).toBeNull();
    const bad = await fetch(`${system.httpUrl}/session`, {
      method: 'POST',
      headers: { authorization: `Bearer pw_${'x'.repeat(43)}` },
    });
    expect(bad.status).toBe(401);
    expect((await fetch(`${system.httpUrl}/session`)).status).toBe(405);
  });

  it('answers 204 with an HttpOnly, SameSite=Strict cookie for /admin holding an opaque id, not the credential', async () => {
    const cookie = await signIn(admin.token);
    expect(cookie.name).toBe('pw_session');
    expect(cookie.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookie.value).not.toContain(admin.token.slice(3, 20));
    expect(cookie.attributes.get('path')).toBe('/admin');
    expect(cookie.attributes.has('httponly')).toBe(true);
    expect(cookie.attributes.get('samesite')).toBe('Strict');
    expect(cookie.attributes.has('secure')).toBe(false); // plain http
    expect(Number(cookie.attributes.get('max-age'))).toBe(SESSION_MAX_SECONDS);

    // Redis holds the session under the id's hash: neither the id nor the token is in it.
    const redis = new Redis(REDIS_URL);
    disposers.add(() => void redis.disconnect());
    const keys = await redis.keys(`${t.config.queuePrefix}:session*`);
    expect(keys.length).toBeGreaterThan(0);
    const dump = JSON.stringify(await Promise.all(keys.map((k) => redis.dump(k))));
    expect(keys.join()).not.toContain(cookie.value);
    expect(dump).not.toContain(cookie.value);
    expect(dump).not.toContain(admin.token);
    const ttl = await redis.pttl(keys.find((k) => k.includes(':session:'))!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(SESSION_MAX_SECONDS * 1000);
  });

  it('adds Secure behind a TLS proxy, and lives no longer than the credential', async () => {
    expect((await signIn(admin.token, { 'x-forwarded-proto': 'https' })).attributes.has('secure')).toBe(true);
    const shortLived = await createTestUser(t.env['DATABASE_URL']!, 'boss', 'ADMIN', new Date(Date.now() + 60_000));
    expect(Number((await signIn(shortLived.token)).attributes.get('max-age'))).toBeLessThanOrEqual(60);
  });

  it('answers this server’s own pages only: a listed CORS origin gets 403 too', async () => {
    const listed = await fetch(`${system.httpUrl}/session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.token}`, origin: LISTED_ORIGIN },
    });
    expect(listed.status).toBe(403);
    expect(listed.headers.get('set-cookie')).toBeNull();
    const other = await fetch(`${system.httpUrl}/session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.token}`, origin: 'http://evil.example' },
    });
    expect(other.status).toBe(403);
    const same = await signIn(admin.token, { origin: system.httpUrl });
    expect(same.name).toBe('pw_session');
  });

  it(`keeps at most ${MAX_SESSIONS_PER_CREDENTIAL} sessions per credential, ending the oldest`, async () => {
    const user = await createTestUser(t.env['DATABASE_URL']!, 'many', 'ADMIN');
    const cookies: Cookie[] = [];
    for (let i = 0; i <= MAX_SESSIONS_PER_CREDENTIAL; i++) cookies.push(await signIn(user.token));
    const status = async (c: Cookie) =>
      (await fetch(`${system.httpUrl}/admin/queues/api/queues`, { headers: withCookie(c) })).status;
    expect(await status(cookies[0]!)).toBe(401);
    expect(await status(cookies[1]!)).toBe(200);
    expect(await status(cookies[MAX_SESSIONS_PER_CREDENTIAL]!)).toBe(200);
  });
});

describe('/admin/queues', () => {
  it('without a cookie: 401, a sign-in note for a browser', async () => {
    const api = await fetch(`${system.httpUrl}/admin/queues/api/queues`);
    expect(api.status).toBe(401);
    expect(await api.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    const page = await fetch(`${system.httpUrl}/admin/queues`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(401);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('Sign in first');
    const forged = await fetch(`${system.httpUrl}/admin/queues/api/queues`, {
      headers: { cookie: `pw_session=${'A'.repeat(43)}` },
    });
    expect(forged.status).toBe(401);
  });

  it('a READER’s cookie: 403', async () => {
    const cookie = await signIn(reader.token);
    const res = await fetch(`${system.httpUrl}/admin/queues`, { headers: withCookie(cookie, { accept: 'text/html' }) });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: '/admin/queues is for ADMINs; you are a READER', code: 'FORBIDDEN' });
  });

  it('an ADMIN’s cookie: the board under its own CSP, and its API listing the four queues', async () => {
    const cookie = await signIn(admin.token);
    const page = await fetch(`${system.httpUrl}/admin/queues`, { headers: withCookie(cookie, { accept: 'text/html' }) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(ADMIN_QUEUES_CSP);
    const html = await page.text();
    expect(html).toContain('<base href="/admin/queues/"');
    expect(html).not.toContain('fonts.googleapis.com');
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${system.httpUrl}/admin/queues/${script}`, { headers: withCookie(cookie) });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('content-security-policy')).toBe(ADMIN_QUEUES_CSP);

    const api = await fetch(`${system.httpUrl}/admin/queues/api/queues`, { headers: withCookie(cookie) });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['control', 'detections', 'notifications', 'rejects']);

    // The CSP is the board's alone: the rest of the app keeps its own (none on JSON answers).
    const healthz = await fetch(`${system.httpUrl}/healthz`);
    expect(healthz.headers.get('content-security-policy')).toBeNull();
  });

  it('a Bearer credential works too (scripts), with the same role rule', async () => {
    const asAdmin = await fetch(`${system.httpUrl}/admin/queues/api/queues`, {
      headers: { authorization: `Bearer ${admin.token}` },
    });
    expect(asAdmin.status).toBe(200);
    const asReader = await fetch(`${system.httpUrl}/admin/queues/api/queues`, {
      headers: { authorization: `Bearer ${reader.token}` },
    });
    expect(asReader.status).toBe(403);
  });

  it('the cookie authenticates nothing else: /graphql, /api, /metrics and /session answer 401', async () => {
    const cookie = await signIn(admin.token);
    const graphql = await fetch(`${system.httpUrl}/graphql`, {
      method: 'POST',
      headers: withCookie(cookie, { 'content-type': 'application/json' }),
      body: JSON.stringify({ query: '{ me { name } }' }),
    });
    expect(graphql.status).toBe(401);
    expect(((await graphql.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe(
      'UNAUTHENTICATED',
    );
    expect((await fetch(`${system.httpUrl}/api/patterns/daily`, { headers: withCookie(cookie) })).status).toBe(401);
    expect((await fetch(`${system.httpUrl}/metrics`, { headers: withCookie(cookie) })).status).toBe(401);
    expect((await fetch(`${system.httpUrl}/session`, { method: 'POST', headers: withCookie(cookie) })).status).toBe(401);
    // Nor does it open a WebSocket: graphql-ws reads the credential from connection_init only.
    expect((await fetch(`${system.httpUrl}/admin/queues/api/queues`, { headers: withCookie(cookie) })).status).toBe(200);
  });

  it('a revoked token or a demoted user loses the board at the next request', async () => {
    const revoked = await createTestUser(t.env['DATABASE_URL']!, 'boss', 'ADMIN');
    const cookie = await signIn(revoked.token);
    const board = (c: Cookie) => fetch(`${system.httpUrl}/admin/queues/api/queues`, { headers: withCookie(c) });
    expect((await board(cookie)).status).toBe(200);
    const r = await gqlAs(system.httpUrl, admin.token, `mutation { revokeToken(tokenId: "${revoked.tokenId}") { revokedAt } }`);
    expect(r.body.errors).toBeUndefined();
    expect((await board(cookie)).status).toBe(401);

    const demoted = await createTestUser(t.env['DATABASE_URL']!, 'soon-reader', 'ADMIN');
    const second = await signIn(demoted.token);
    expect((await board(second)).status).toBe(200);
    const d = await gqlAs(
      system.httpUrl,
      admin.token,
      `mutation { setUserRole(userId: "${demoted.userId}", role: READER) { role } }`,
    );
    expect(codeOf(d)).toBeUndefined();
    expect((await board(second)).status).toBe(403);
  });
});

describe('DELETE /session', () => {
  it('clears the cookie; with the credential, ends every session made from it', async () => {
    const user = await createTestUser(t.env['DATABASE_URL']!, 'leaver', 'ADMIN');
    const a = await signIn(user.token);
    const b = await signIn(user.token);
    const other = await signIn(admin.token);
    const board = (c: Cookie) => fetch(`${system.httpUrl}/admin/queues/api/queues`, { headers: withCookie(c) });

    const bare = await fetch(`${system.httpUrl}/session`, { method: 'DELETE' });
    expect(bare.status).toBe(204);
    const cleared = parseSetCookie(bare.headers.get('set-cookie'));
    expect(cleared).toMatchObject({ name: 'pw_session', value: '' });
    expect(cleared.attributes.get('max-age')).toBe('0');
    expect(cleared.attributes.get('path')).toBe('/admin');
    expect((await board(a)).status).toBe(200); // without the credential, the server cannot tell whose

    const res = await fetch(`${system.httpUrl}/session`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(res.status).toBe(204);
    expect(parseSetCookie(res.headers.get('set-cookie')).attributes.get('max-age')).toBe('0');
    expect((await board(a)).status).toBe(401);
    expect((await board(b)).status).toBe(401);
    expect((await board(other)).status).toBe(200);

    const bad = await fetch(`${system.httpUrl}/session`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer nope-nope-nope' },
    });
    expect(bad.status).toBe(401);
  });
});

describe('AUTH_MODE=off', () => {
  it('opens /admin/queues without a cookie, as /metrics', async () => {
    const off = await createTestEnv(disposers, 'adminqoff');
    const open = await startTestSystem(disposers, off.config, { api: true, migrate: true });
    expect((await fetch(`${open.httpUrl}/admin/queues/api/queues`)).status).toBe(200);
    expect((await fetch(`${open.httpUrl}/metrics`)).status).toBe(200);
  });
});

const CHROMIUM = '/usr/bin/chromium';
describe.skipIf(!existsSync(CHROMIUM))('the board in headless chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
    });
    disposers.add(() => browser.close());
  });

  it(
    'signs in with fetch from a page of this origin, then shows the four queues with no CSP violation',
    { timeout: 60_000 },
    async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const requests: string[] = [];
      const problems: string[] = [];
      context.on('request', (r) => requests.push(r.url()));
      context.on('response', (r) => {
        if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
      });
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) =>
          console.error(`CSP violation: ${e.effectiveDirective} ${e.blockedURI} ${e.sample}`),
        );
      });
      // Without a session the board's address answers 401 with a note; any page of this origin can
      // sign in with fetch (the dashboard's, at /, will).
      const first = await page.goto(`${system.httpUrl}/admin/queues`);
      expect(first?.status()).toBe(401);
      await page.getByText('Sign in first').waitFor();
      // That note's CSP allows no fetch; sign in from a page of this origin that does (a stand-in for the dashboard).
      await page.goto(`${system.httpUrl}/healthz`);
      const status = await page.evaluate(
        async (token) => (await fetch('/session', { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status,
        admin.token,
      );
      expect(status).toBe(204);
      // HttpOnly: the page's script cannot read it.
      expect(await page.evaluate(() => document.cookie)).toBe('');
      const cookies = await context.cookies(system.httpUrl + '/admin/queues');
      expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite, c.path])).toEqual([['pw_session', true, 'Strict', '/admin']]);
      problems.length = 0; // the 401 above and /healthz's missing favicon were expected

      const response = await page.goto(`${system.httpUrl}/admin/queues`);
      expect(response?.status()).toBe(200);
      for (const name of ['detections', 'control', 'rejects', 'notifications']) {
        await page.getByText(name, { exact: true }).first().waitFor({ timeout: 20_000 });
      }
      expect(problems).toEqual([]);
      expect(requests.filter((u) => !u.startsWith(system.httpUrl))).toEqual([]);
      await context.close();
    },
  );
});
