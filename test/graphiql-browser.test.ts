/**
 * Real-browser proof that the self-hosted GraphiQL works offline and under our
 * strict CSP: headless Debian chromium (driven by playwright-core) opens
 * /graphql on a real node:http + graphql-yoga + graphql-ws server, runs a
 * query and a subscription, and every request it makes stays on 127.0.0.1.
 *
 * Needs /usr/bin/chromium (`.ci/install-chromium` installs it).
 */
import { existsSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSchema, createYoga } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { WebSocketServer } from 'ws';
import { createGraphiqlAssets, createGraphiqlHandler, GRAPHIQL_CSP } from '../src/api/graphiql.js';

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

interface TestServer {
  origin: string;
  /** `socket.protocol` of every graphql-ws connection the server accepted. */
  subprotocols: string[];
  close(): Promise<void>;
}

/**
 * node:http + graphql-yoga (HTTP, its own GraphiQL off) + graphql-ws on a ws
 * WebSocketServer sharing the path /graphql, with our GraphiQL handler first.
 */
async function startServer(): Promise<TestServer> {
  const schema = createSchema({
    typeDefs: /* GraphQL */ `
      type Query {
        hello: String!
      }
      type Subscription {
        ticks: Int!
      }
    `,
    resolvers: {
      Query: { hello: () => 'world' },
      Subscription: {
        ticks: {
          subscribe: async function* () {
            for (const n of [1, 2, 3]) {
              await sleep(100);
              yield { ticks: n };
            }
          },
        },
      },
    },
  });
  const yoga = createYoga({ schema, graphiql: false, logging: false });
  const graphiql = createGraphiqlHandler({ endpoint: '/graphql', assetsBase: '/graphql/assets' });

  const server = createServer((req, res) => {
    graphiql(req, res)
      .then((handled) => (handled ? undefined : yoga(req, res)))
      .catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err));
      });
  });
  const wss = new WebSocketServer({ server, path: '/graphql' });
  const subprotocols: string[] = [];
  wss.on('connection', (socket) => subprotocols.push(socket.protocol));
  const wsServer = useServer({ schema }, wss);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    subprotocols,
    async close() {
      await wsServer.dispose();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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

describe('GraphiQL mounting over HTTP', () => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('serves the page with the CSP and without inline script', async () => {
    const res = await fetch(`${srv.origin}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toBe(GRAPHIQL_CSP);
    const html = await res.text();
    expect(html).toContain('/graphql/assets/graphiql.js');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/i);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('leaves GraphQL requests to yoga', async () => {
    const res = await fetch(`${srv.origin}/graphql?query=${encodeURIComponent('{ hello }')}`, {
      headers: { accept: 'application/graphql-response+json' },
    });
    expect(await res.json()).toEqual({ data: { hello: 'world' } });
  });

  it('serves assets compressed, with revalidation, and nothing else', async () => {
    const res = await fetch(`${srv.origin}/graphql/assets/graphiql.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(await res.text()).toContain('renderYogaGraphiQL');
    const etag = res.headers.get('etag') ?? '';
    const again = await fetch(`${srv.origin}/graphql/assets/graphiql.js`, {
      headers: { 'accept-encoding': 'gzip', 'if-none-match': etag },
    });
    expect(again.status).toBe(304);

    expect(await rawGet(srv.origin, '/graphql/assets/nope.js')).toBe(404);
    expect(await rawGet(srv.origin, '/graphql/assets/..%2Fpackage.json')).toBe(404);
    expect(await rawGet(srv.origin, '/graphql/assets/monacoeditorwork/editor.worker.bundle.js')).toBe(404);

    const assets = createGraphiqlAssets();
    expect((await assets.get('/graphql/assets/graphiql.css'))?.contentType).toBe('text/css; charset=utf-8');
    expect(await assets.get('/graphql/assets/package.json')).toBeNull();
  });
});

describe.skipIf(!haveChromium)(`GraphiQL in headless chromium (needs ${CHROMIUM})`, () => {
  let srv: TestServer;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let origin: string;

  const requests: string[] = [];
  const cspViolations: CspViolation[] = [];
  const consoleMessages: string[] = [];
  const pageErrors: string[] = [];
  const browserSockets: string[] = [];
  const framesReceived: string[] = [];

  beforeAll(async () => {
    srv = await startServer();
    origin = srv.origin;

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
      socket.on('framereceived', (frame) => framesReceived.push(String(frame.payload)));
    });
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
    await browser?.close();
    await srv?.close();
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
    return page
      .locator('.graphiql-response')
      .innerText()
      .then(flatten);
  }

  it('runs { hello } over HTTP', async () => {
    await runInGraphiql('{ hello }');
    await expect.poll(responseText, { timeout: 10_000 }).toContain('"hello": "world"');
  }, 20_000);

  it('runs subscription { ticks } over graphql-ws on the same /graphql URL', async () => {
    await runInGraphiql('subscription { ticks }');
    // The result pane shows each tick as it arrives; wait for the last one.
    await expect.poll(responseText, { timeout: 10_000 }).toMatch(/"ticks": [123]/);
    await expect.poll(responseText, { timeout: 10_000 }).toContain('"ticks": 3');

    const wsUrl = `${origin.replace(/^http/, 'ws')}/graphql`;
    expect(browserSockets).toContain(wsUrl);
    expect(srv.subprotocols).toContain('graphql-transport-ws');
    expect(framesReceived.some((frame) => frame.includes('"connection_ack"'))).toBe(true);
    expect(framesReceived.some((frame) => frame.includes('"next"') && frame.includes('"ticks":1'))).toBe(true);
    await expect.poll(() => framesReceived.some((frame) => frame.includes('"complete"'))).toBe(true);

    await page.screenshot({ path: '/tmp/graphiql.png' });
  }, 20_000);

  it('stayed on 127.0.0.1 and raised no CSP violation', async () => {
    expect(requests.length).toBeGreaterThan(0);
    const offsite = requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin);
    expect(offsite).toEqual([]);
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
