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
import { request as httpRequest } from 'node:http';
import { Redis } from 'ioredis';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createGraphiqlAssets, GRAPHIQL_CSP, SIGN_IN_NOTE_ID, TOKEN_STORAGE_KEY } from '../src/api/graphiql.js';
import { createTestUser, gqlAs, type TestUser } from './utils/auth.js';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { eventually, gql } from './utils/graphql.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { subscribersAtLeast } from './utils/burst.js';
import { CHROMIUM, haveChromium, launchChromium, recordCspViolations, type CspViolation } from './utils/browser.js';

if (!haveChromium) {
  console.warn(`graphiql-browser: SKIPPED — ${CHROMIUM} not found (run .ci/install-chromium)`);
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

/** A detection for `symbol`, as a producer publishes it. */
function detectionJson(eventId: string, symbol: string): string {
  return JSON.stringify({
    event_id: eventId,
    pattern: 'BreakoutBO',
    symbol,
    confidence: 0.95,
    tier: 'daily',
    timeframe: '1d',
    timestamp: Date.now() / 1000,
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

    browser = await launchChromium();
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
    await recordCspViolations(page, cspViolations);
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

    await publisher.publish(t.config.channels.patterns, detectionJson(`${t.id}-aapl`, 'AAPL'));

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

/**
 * Contract §5 with AUTH_MODE=required: GraphiQL opened as `npm start` prints it
 * (`/graphql#token=…`) takes the token off the address bar, keeps it in sessionStorage and
 * sends it as `Authorization: Bearer` over HTTP and as graphql-ws `connectionParams`; the
 * token never appears in a URL. Without one the page still loads and shows the server's 401.
 */
describe.skipIf(!haveChromium)(`GraphiQL with authentication required, in headless chromium (needs ${CHROMIUM})`, () => {
  let ta: TestEnv;
  let authSystem: TestSystem;
  let ada: TestUser;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let origin: string;

  const requests: string[] = [];
  /** Authorization header of each GraphQL POST the page made. */
  const graphqlAuthorizations: (string | undefined)[] = [];
  const sockets: string[] = [];
  const framesSent: string[] = [];
  const framesReceived: string[] = [];
  const consoleMessages: string[] = [];
  const pageErrors: string[] = [];
  const cspViolations: CspViolation[] = [];

  /** The query editor's text, once GraphiQL has rendered it. */
  async function editorShows(p: Page, query: string): Promise<void> {
    const editor = p.locator('.graphiql-query-editor');
    await expect.poll(async () => flatten(await editor.innerText()), { timeout: 10_000 }).toContain(query);
  }

  async function run(p: Page): Promise<void> {
    await p.locator('.graphiql-execute-button').click();
  }

  function responseText(p: Page): () => Promise<string> {
    return () => p.locator('.graphiql-response').innerText().then(flatten);
  }

  const withQuery = (query: string) => `${origin}/graphql?query=${encodeURIComponent(query)}`;

  beforeAll(async () => {
    ta = await createTestEnv(disposers, 'graphiql_auth', { AUTH_MODE: 'required' });
    authSystem = await startTestSystem(disposers, ta.config);
    origin = authSystem.httpUrl;
    ada = await createTestUser(ta.env['DATABASE_URL']!, 'ada', 'READER');

    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.on('request', (request) => {
      requests.push(request.url());
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/graphql') {
        graphqlAuthorizations.push(request.headers()['authorization']);
      }
    });
    page = await context.newPage();
    page.on('console', (message) => consoleMessages.push(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('websocket', (socket) => {
      sockets.push(socket.url());
      socket.on('framesent', (frame) => framesSent.push(String(frame.payload)));
      socket.on('framereceived', (frame) => framesReceived.push(String(frame.payload)));
    });
    await recordCspViolations(page, cspViolations);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('takes the token from #token=, removes it from the address bar, keeps it in sessionStorage and queries as the user', async () => {
    const query = '{ me { name role } }';
    const response = await page.goto(`${withQuery(query)}#token=${ada.token}`);
    expect(response?.status()).toBe(200);
    await editorShows(page, query);

    // Gone from the address bar and from this history entry; the query parameter stays.
    expect(await page.evaluate(() => location.href)).toBe(withQuery(query));
    expect(await page.evaluate(() => location.hash)).toBe('');
    expect(await page.evaluate((key) => sessionStorage.getItem(key), TOKEN_STORAGE_KEY)).toBe(ada.token);
    await expect.poll(() => page.locator(`#${SIGN_IN_NOTE_ID}`).count()).toBe(0);

    await run(page);
    await expect.poll(responseText(page), { timeout: 10_000 }).toContain('"me": { "name": "ada", "role": "READER" }');
    // GraphiQL rewrites the URL on every edit from what it read when it rendered: still no token.
    expect(await page.evaluate(() => location.href)).not.toContain('token');
    // Every GraphQL POST (the schema's introspection and the query) carried the token.
    expect(graphqlAuthorizations.length).toBeGreaterThanOrEqual(2);
    expect(new Set(graphqlAuthorizations)).toEqual(new Set([`Bearer ${ada.token}`]));
  }, 30_000);

  it('runs a live patternAlert subscription over graphql-ws with the token in connectionParams', async () => {
    // A plain navigation in the same tab: the token comes from sessionStorage.
    const query = 'subscription { patternAlert(filter: { symbols: ["NVDA"] }) { symbol tier priority } }';
    await page.goto(withQuery(query));
    await editorShows(page, query);
    await run(page);

    await expect.poll(() => sockets, { timeout: 10_000 }).toContain(`${origin.replace(/^http/, 'ws')}/graphql`);
    await expect
      .poll(() => framesSent.some((frame) => frame.includes('"subscribe"') && frame.includes('patternAlert')), {
        timeout: 10_000,
      })
      .toBe(true);
    const init = framesSent
      .map((frame) => JSON.parse(frame) as Record<string, unknown>)
      .find((m) => m['type'] === 'connection_init');
    expect(init).toEqual({ type: 'connection_init', payload: { authorization: `Bearer ${ada.token}` } });
    expect(framesReceived.some((frame) => frame.includes('"connection_ack"'))).toBe(true);

    // Registered on the server (GraphiQL's is the only subscription of this system).
    await eventually(
      async () => {
        const { body } = await gqlAs<{ systemHealth: { pipeline: { subscribers: number } } }>(
          origin,
          ada.token,
          '{ systemHealth { pipeline { subscribers } } }',
        );
        return (body.data?.systemHealth.pipeline.subscribers ?? 0) >= 1;
      },
      15_000,
      'GraphiQL subscribed',
    );

    await publisher.publish(ta.config.channels.patterns, detectionJson(`${ta.id}-nvda`, 'NVDA'));
    await expect.poll(responseText(page), { timeout: 15_000 }).toContain('"symbol": "NVDA"');
    expect(await responseText(page)()).toContain('"tier": "DAILY"');
  }, 30_000);

  it('is still signed in after a reload without the fragment', async () => {
    const query = '{ me { name } }';
    await page.goto(withQuery(query));
    await editorShows(page, query);
    await page.reload();
    await editorShows(page, query);
    expect(await page.evaluate(() => location.href)).toBe(withQuery(query));
    await run(page);
    await expect.poll(responseText(page), { timeout: 10_000 }).toContain('"me": { "name": "ada" }');
  }, 30_000);

  it('never put the token in a URL or localStorage, stayed on its origin, and logged no error', async () => {
    expect(requests.length).toBeGreaterThan(0);
    const everyUrl = [...requests, ...sockets];
    expect(everyUrl.filter((url) => url.includes(ada.token) || url.includes(encodeURIComponent(ada.token)))).toEqual([]);
    expect(everyUrl.filter((url) => url.includes('token='))).toEqual([]);
    const offsite = everyUrl.filter((url) => !url.startsWith('data:') && new URL(url).host !== new URL(origin).host);
    expect(offsite).toEqual([]);
    // GraphiQL persists its headers editor in localStorage; the token is never put there.
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage }))).not.toContain(ada.token);

    expect(consoleMessages.filter((line) => line.startsWith('error:'))).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });

  it('without a token: the page loads, says how to sign in, a query shows the 401 UNAUTHENTICATED; a #token= typed in signs in', async () => {
    // A fresh context: its own, empty sessionStorage.
    const anonymous = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const anonRequests: string[] = [];
      const statuses: number[] = [];
      anonymous.on('request', (request) => anonRequests.push(request.url()));
      anonymous.on('response', (res) => {
        if (new URL(res.url()).pathname === '/graphql' && res.request().method() === 'POST') statuses.push(res.status());
      });
      const anonPage = await anonymous.newPage();
      const anonErrors: string[] = [];
      anonPage.on('pageerror', (error) => anonErrors.push(error.message));

      const query = '{ me { name } }';
      const response = await anonPage.goto(withQuery(query));
      expect(response?.status()).toBe(200);
      await editorShows(anonPage, query);
      expect(await anonPage.evaluate((key) => sessionStorage.getItem(key), TOKEN_STORAGE_KEY)).toBeNull();
      const note = anonPage.locator(`#${SIGN_IN_NOTE_ID}`);
      await expect.poll(() => note.innerText()).toContain('Not signed in');
      expect(await note.innerText()).toContain('#token=');

      await run(anonPage);
      await expect.poll(responseText(anonPage), { timeout: 10_000 }).toContain('UNAUTHENTICATED');
      const shown = await responseText(anonPage)();
      expect(shown).toContain('Not signed in');
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.every((status) => status === 401)).toBe(true);
      await anonPage.screenshot({ path: '/tmp/graphiql-signed-out.png' });

      // Dismissable.
      await note.locator('button').click();
      expect(await anonPage.locator(`#${SIGN_IN_NOTE_ID}`).count()).toBe(0);

      // A #token= typed into the open page signs it in: stored, taken off, page reloaded.
      const reloaded = anonPage.waitForEvent('load');
      await anonPage.evaluate((token) => (location.hash = `#token=${token}`), ada.token);
      await reloaded;
      await editorShows(anonPage, query);
      expect(await anonPage.evaluate(() => location.href)).toBe(withQuery(query));
      expect(await anonPage.evaluate((key) => sessionStorage.getItem(key), TOKEN_STORAGE_KEY)).toBe(ada.token);
      expect(await anonPage.locator(`#${SIGN_IN_NOTE_ID}`).count()).toBe(0);
      await run(anonPage);
      await expect.poll(responseText(anonPage), { timeout: 10_000 }).toContain('"me": { "name": "ada" }');

      expect(anonErrors).toEqual([]);
      expect(anonRequests.filter((url) => url.includes(ada.token))).toEqual([]);
      expect(anonRequests.filter((url) => !url.startsWith('data:') && new URL(url).host !== new URL(origin).host)).toEqual([]);
    } finally {
      await anonymous.close();
    }
  }, 30_000);
});
