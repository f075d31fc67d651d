/**
 * Real-browser proof that the self-hosted GraphiQL works offline and under our
 * strict CSP, against the real Patternwire API: the whole system runs in this
 * process (startTestSystem, real Redis and PostgreSQL), headless Debian
 * chromium (driven by playwright-core) opens /graphql, subscribes to
 * patternAlert over graphql-ws, sees a detection published to Redis arrive,
 * queries it back, and every request it makes stays on 127.0.0.1.
 *
 * Needs /usr/bin/chromium (`.ci/install-chromium` installs it).
 */
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Redis } from 'ioredis';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createGraphiqlAssets, GRAPHIQL_CSP } from '../src/api/graphiql.js';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { gql } from './utils/graphql.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { subscribersAtLeast } from './utils/burst.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`graphiql-browser: SKIPPED — ${CHROMIUM} not found (run .ci/install-chromium)`);
}

interface CspViolation {
  directive: string;
  blockedURI: string;
  sample: string;
}

declare global {
  interface Window {
    __reportCspViolation?: (violation: CspViolation) => void;
  }
}

/** Monaco renders spaces as U+00A0 and splits lines into divs: collapse all whitespace. */
function flatten(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/** Raw GET, so that the path reaches the server exactly as written (fetch would normalise it). */
function rawGet(origin: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${origin}${path}`, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const disposers = createDisposers();
let t: TestEnv;
let system: TestSystem;
let publisher: Redis;

beforeAll(async () => {
  t = await createTestEnv(disposers, 'graphiql');
  system = await startTestSystem(disposers, t.config);
  publisher = new Redis(REDIS_URL);
  disposers.add(() => void publisher.disconnect());
});
afterAll(() => disposers.run());

describe('GraphiQL mounting over HTTP (real API server)', () => {
  it('serves the page with the CSP and without inline script', async () => {
    const res = await fetch(`${system.httpUrl}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toBe(GRAPHIQL_CSP);
    const html = await res.text();
    expect(html).toContain('/graphql/assets/graphiql.js');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/i);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('leaves GraphQL requests to yoga', async () => {
    const res = await fetch(`${system.httpUrl}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/graphql-response+json' },
    });
    expect(res.headers.get('content-security-policy')).toBeNull();
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('serves assets compressed, with revalidation, and nothing else', async () => {
    const origin = system.httpUrl;
    const res = await fetch(`${origin}/graphql/assets/graphiql.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(await res.text()).toContain('renderYogaGraphiQL');
    const etag = res.headers.get('etag') ?? '';
    const again = await fetch(`${origin}/graphql/assets/graphiql.js`, {
      headers: { 'accept-encoding': 'gzip', 'if-none-match': etag },
    });
    expect(again.status).toBe(304);

    expect(await rawGet(origin, '/graphql/assets/nope.js')).toBe(404);
    expect(await rawGet(origin, '/graphql/assets/..%2Fpackage.json')).toBe(404);
    expect(await rawGet(origin, '/graphql/assets/monacoeditorwork/editor.worker.bundle.js')).toBe(404);

    const assets = createGraphiqlAssets();
    expect((await assets.get('/graphql/assets/graphiql.css'))?.contentType).toBe('text/css; charset=utf-8');
    expect(await assets.get('/graphql/assets/package.json')).toBeNull();
  });
});

describe.skipIf(!haveChromium)(`GraphiQL in headless chromium against the real API (needs ${CHROMIUM})`, () => {
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let origin: string;

  const requests: string[] = [];
  const cspViolations: CspViolation[] = [];
  const consoleMessages: string[] = [];
  const pageErrors: string[] = [];
  const browserSockets: string[] = [];
  const framesSent: string[] = [];
  const framesReceived: string[] = [];
  /** Sec-WebSocket-Protocol of each handshake, as chromium sent and received it. */
  const offeredSubprotocols: string[] = [];
  const acceptedSubprotocols: string[] = [];

  beforeAll(async () => {
    origin = system.httpUrl;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // Belt and braces: even if the page tried another host, nothing would
        // leave this machine (the request is still recorded and fails the test).
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // Context-level, so requests from Monaco's web workers are seen too.
    context.on('request', (request) => requests.push(request.url()));
    page = await context.newPage();
    page.on('console', (message) => consoleMessages.push(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('websocket', (socket) => {
      browserSockets.push(socket.url());
      socket.on('framesent', (frame) => framesSent.push(String(frame.payload)));
      socket.on('framereceived', (frame) => framesReceived.push(String(frame.payload)));
    });
    // The WebSocket handshake headers, which playwright's WebSocket does not expose: what
    // chromium offered and which subprotocol the real server picked.
    const header = (headers: Record<string, string>, name: string) =>
      Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1] ?? '';
    cdp = await context.newCDPSession(page);
    cdp.on('Network.webSocketWillSendHandshakeRequest', (event) =>
      offeredSubprotocols.push(header(event.request.headers, 'sec-websocket-protocol')),
    );
    cdp.on('Network.webSocketHandshakeResponseReceived', (event) =>
      acceptedSubprotocols.push(header(event.response.headers, 'sec-websocket-protocol')),
    );
    await cdp.send('Network.enable');
    await page.exposeFunction('__reportCspViolation', (violation: CspViolation) => {
      cspViolations.push(violation);
    });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        window.__reportCspViolation?.({
          directive: event.effectiveDirective,
          blockedURI: event.blockedURI,
          sample: event.sample,
        });
      });
    });
  }, 30_000);

  afterAll(async () => {
    await cdp?.detach().catch(() => undefined);
    await browser?.close();
  });

  /** Open GraphiQL with `query` preloaded through the `?query=` URL parameter GraphiQL reads, and run it. */
  async function runInGraphiql(query: string): Promise<void> {
    const response = await page.goto(`${origin}/graphql?query=${encodeURIComponent(query)}`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toBe(GRAPHIQL_CSP);
    const editor = page.locator('.graphiql-query-editor');
    await expect.poll(async () => flatten(await editor.innerText()), { timeout: 10_000 }).toContain(query);
    await page.locator('.graphiql-execute-button').click();
  }

  function responseText(): Promise<string> {
    return page.locator('.graphiql-response').innerText().then(flatten);
  }

  it('shows a detection published to Redis live, through patternAlert over graphql-ws on /graphql', async () => {
    await runInGraphiql('subscription { patternAlert(filter: { symbols: ["AAPL"] }) { id symbol tier priority } }');

    // GraphiQL opened the WebSocket on the same URL and sent the subscription.
    const wsUrl = `${origin.replace(/^http/, 'ws')}/graphql`;
    await expect.poll(() => browserSockets, { timeout: 10_000 }).toContain(wsUrl);
    await expect
      .poll(() => framesSent.some((frame) => frame.includes('"subscribe"') && frame.includes('patternAlert')), {
        timeout: 10_000,
      })
      .toBe(true);
    expect(framesReceived.some((frame) => frame.includes('"connection_ack"'))).toBe(true);
    expect(offeredSubprotocols).toEqual(['graphql-transport-ws']);
    expect(acceptedSubprotocols).toEqual(['graphql-transport-ws']);
    // Nothing tells the client when the server has registered the subscription; the server's
    // pipeline health does (GraphiQL's is the only subscription here).
    await subscribersAtLeast(origin, 1);

    await publisher.publish(
      t.config.channels.patterns,
      JSON.stringify({
        event_id: `${t.id}-aapl`,
        pattern: 'BreakoutBO',
        symbol: 'AAPL',
        confidence: 0.95,
        tier: 'daily',
        timeframe: '1d',
        timestamp: Date.now() / 1000,
      }),
    );

    await expect.poll(responseText, { timeout: 15_000 }).toContain('"symbol": "AAPL"');
    const shown = await responseText();
    expect(shown).toContain('"tier": "DAILY"');
    expect(shown).toContain('"priority": "CRITICAL"');
    expect(shown).toMatch(/"id": "\d+"/);
    await page.screenshot({ path: '/tmp/graphiql-real.png' });

    const next = framesReceived.filter((frame) => frame.includes('"next"'));
    expect(next).toHaveLength(1);
    expect(JSON.parse(next[0]!)).toMatchObject({
      type: 'next',
      payload: { data: { patternAlert: { symbol: 'AAPL', tier: 'DAILY', priority: 'CRITICAL' } } },
    });
  }, 30_000);

  it('queries the stored detection with dailyPatterns over HTTP', async () => {
    await runInGraphiql('{ dailyPatterns(first: 5) { nodes { symbol pattern } } }');
    await expect
      .poll(responseText, { timeout: 10_000 })
      .toContain('"dailyPatterns": { "nodes": [ { "symbol": "AAPL", "pattern": "BreakoutBO" } ] }');
    // The same answer straight from the server, not through the browser.
    const { body } = await gql<{ dailyPatterns: { nodes: { symbol: string; pattern: string }[] } }>(
      origin,
      '{ dailyPatterns(first: 5) { nodes { symbol pattern } } }',
    );
    expect(body).toEqual({ data: { dailyPatterns: { nodes: [{ symbol: 'AAPL', pattern: 'BreakoutBO' }] } } });
  }, 20_000);

  it('stayed on 127.0.0.1 and raised no CSP violation', async () => {
    expect(requests.length).toBeGreaterThan(0);
    const offsite = requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin);
    expect(offsite).toEqual([]);
    expect(browserSockets.length).toBeGreaterThan(0);
    expect(browserSockets.every((url) => new URL(url).host === new URL(origin).host)).toBe(true);
    // The bundle, stylesheet, init script and at least one Monaco worker all came from us.
    expect(requests).toEqual(
      expect.arrayContaining([
        `${origin}/graphql/assets/graphiql.js`,
        `${origin}/graphql/assets/graphiql.css`,
        `${origin}/graphql/assets/graphiql-init.js`,
        `${origin}/graphql/assets/editor.worker.js`,
      ]),
    );

    expect(cspViolations).toEqual([]);
    expect(consoleMessages.filter((line) => /content security policy|refused to/i.test(line))).toEqual([]);
    expect(pageErrors).toEqual([]);

    // Control: the listener above does catch violations — an inline script is refused.
    await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.name = "inline ran"';
      document.body.append(script);
    });
    await expect.poll(() => cspViolations.length).toBeGreaterThan(0);
    expect(cspViolations[0]?.directive).toBe('script-src-elem');
    expect(await page.evaluate(() => window.name)).not.toBe('inline ran');
  }, 20_000);
});
