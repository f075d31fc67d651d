import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config/env.js';
import { cleanLogMessage, createLogger, cutToBytes, LOG_MESSAGE_MAX_BYTES, redactSecrets } from '../src/lib/logger.js';
import { createDisposers, createTestEnv } from './utils/env.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { waitFor } from './utils/wait.js';

/**
 * Contract §5, "Browsers": CORS, the WebSocket upgrade's Origin, CSRF content types, the headers
 * of JSON answers, Node's HTTP timeouts (small values here), and log hygiene.
 */
const disposers = createDisposers();
let system: TestSystem;

const LISTED = 'https://app.example.com';
const LISTED_2 = 'http://localhost:5173';
const FOREIGN = 'https://evil.example';
const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
/** Sent as a credential on the requests below: it must not reach the logs. */
const TOKEN = `pw_${'Ab3_-x9Z'.repeat(5)}Q7k`;

beforeAll(async () => {
  const t = await createTestEnv(disposers, 'browser', {
    CORS_ORIGINS: `${LISTED}, ${LISTED_2}`,
    HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    // Ignored until authentication exists; then these rules are tested without credentials.
    AUTH_MODE: 'off',
  });
  system = await startTestSystem(disposers, t.config, { api: true, migrate: true });
});
afterAll(() => disposers.run());

const ownOrigin = () => system.httpUrl; // http://127.0.0.1:PORT, the Host fetch sends

function post(path: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${system.httpUrl}${path}`, { method: 'POST', headers, body });
}
const query = (origin?: string) =>
  post('/graphql', JSON.stringify({ query: '{ __typename }' }), {
    'content-type': 'application/json',
    authorization: `Bearer ${TOKEN}`,
    ...(origin ? { origin } : {}),
  });
const get = (path: string, headers: Record<string, string> = {}) => fetch(`${system.httpUrl}${path}`, { headers });
const preflight = (path: string, origin: string, method = 'POST') =>
  fetch(`${system.httpUrl}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' },
  });

describe('CORS', () => {
  it('a listed origin gets itself back in Access-Control-Allow-Origin, with Vary: Origin (GraphQL, REST, /healthz)', async () => {
    for (const origin of [LISTED, LISTED_2]) {
      const responses = [
        await query(origin),
        await get('/graphql?query=%7B__typename%7D', { origin }),
        await get('/api/patterns/daily', { origin }),
        await get('/healthz', { origin }),
      ];
      for (const res of responses) {
        expect(res.status, res.url).toBe(200);
        expect(res.headers.get('access-control-allow-origin')).toBe(origin);
        expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
        expect(res.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate, Retry-After');
      }
      expect(await responses[0]!.json()).toEqual({ data: { __typename: 'Query' } });
    }
  });

  it('another origin is refused with 403 naming CORS_ORIGINS, and no Access-Control-Allow-Origin', async () => {
    const responses = [
      await query(FOREIGN),
      await get('/graphql?query=%7B__typename%7D', { origin: FOREIGN }),
      await get('/api/patterns/daily', { origin: FOREIGN }),
      await get('/healthz', { origin: FOREIGN }),
      await query('null'), // a sandboxed frame or a file: page
      await query(`${LISTED}.evil.example`), // listed origins match exactly, not by prefix
      await query('http://app.example.com'), // nor by host alone
    ];
    for (const res of responses) {
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const body = (await res.json()) as { errors?: { message: string }[]; error?: string };
      expect(body.errors?.[0]?.message ?? body.error).toMatch(/CORS_ORIGINS/);
    }
    const graphqlBody = (await (await query(FOREIGN)).json()) as { errors: { message: string; extensions: unknown }[] };
    expect(graphqlBody.errors[0]).toEqual({
      message: `Origin ${FOREIGN} may not call this server: cross-origin requests are refused unless the origin is listed in CORS_ORIGINS`,
      extensions: { code: 'FORBIDDEN' },
    });
  });

  it('no Origin, or the server’s own origin, work as before (no CORS headers)', async () => {
    for (const res of [await query(), await query(ownOrigin()), await get('/api/patterns/daily', { origin: ownOrigin() })]) {
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('a preflight from a listed origin is answered: methods, Authorization and Content-Type, max-age', async () => {
    const res = await preflight('/graphql', LISTED);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(LISTED);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(res.headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);

    const rest = await preflight('/api/patterns/daily', LISTED_2, 'GET');
    expect(rest.status).toBe(204);
    expect(rest.headers.get('access-control-allow-origin')).toBe(LISTED_2);
    expect(rest.headers.get('access-control-allow-methods')).toBe('GET, HEAD');
  });

  it('a preflight from another origin gets 403 and no CORS headers', async () => {
    for (const path of ['/graphql', '/api/patterns/daily']) {
      const res = await preflight(path, FOREIGN);
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-allow-methods')).toBeNull();
      expect(await res.text()).toMatch(/CORS_ORIGINS/);
    }
  });

  it('never answers `*`, nor Access-Control-Allow-Credentials, whoever asks', async () => {
    const responses = [
      await query(LISTED),
      await query(FOREIGN),
      await query(ownOrigin()),
      await query(),
      await preflight('/graphql', LISTED),
      await preflight('/graphql', FOREIGN),
      await get('/api/patterns/daily', { origin: LISTED }),
    ];
    for (const res of responses) {
      expect(res.headers.get('access-control-allow-origin')).not.toBe('*');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('CORS_ORIGINS takes exact origins only: `*`, paths and trailing slashes are refused at start-up', () => {
    expect(loadConfig({}).http.corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: ' https://a.example ,http://localhost:3000 ' }).http.corsOrigins).toEqual([
      'https://a.example',
      'http://localhost:3000',
    ]);
    expect(() => loadConfig({ CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS: "\*" is not accepted/);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://a.example/' })).toThrow(
      /CORS_ORIGINS: .*did you mean https:\/\/a\.example\?/,
    );
    expect(() => loadConfig({ CORS_ORIGINS: 'https://a.example/app' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: 'a.example' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: 'null' })).toThrow(/CORS_ORIGINS/);
  });
});

/** Opens a WebSocket with `origin` (none when undefined): 'open', or the HTTP status it was refused with. */
function openSocket(origin?: string): Promise<{ socket: WebSocket } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(system.wsUrl, 'graphql-transport-ws', origin ? { origin } : {});
    socket.once('open', () => {
      disposers.add(() => socket.terminate());
      resolve({ socket });
    });
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    socket.once('error', reject);
  });
}

/** graphql-ws's handshake: connection_init answered with connection_ack. */
function acknowledged(socket: WebSocket): Promise<boolean> {
  return new Promise((resolve) => {
    socket.once('message', (data: Buffer) =>
      resolve((JSON.parse(data.toString()) as { type: string }).type === 'connection_ack'),
    );
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${TOKEN}` } }));
  });
}

describe('WebSocket upgrade', () => {
  it('an upgrade from another origin gets HTTP 403 naming CORS_ORIGINS, before the handshake', async () => {
    for (const origin of [FOREIGN, 'null']) {
      const refused = await openSocket(origin);
      expect(refused).toEqual({ status: 403, body: expect.stringMatching(/CORS_ORIGINS/) });
    }
  });

  it('a listed origin, the server’s own and a client without Origin connect', async () => {
    for (const origin of [LISTED, ownOrigin(), undefined]) {
      const opened = await openSocket(origin);
      if (!('socket' in opened)) throw new Error(`${origin} refused: ${opened.status} ${opened.body}`);
      expect(await acknowledged(opened.socket)).toBe(true);
      opened.socket.close();
    }
  });
});

describe('CSRF', () => {
  const body = JSON.stringify({ query: '{ __typename }' });
  it.each([
    ['application/x-www-form-urlencoded', 'query=%7B__typename%7D'],
    ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${body}\r\n--x--\r\n`],
    ['text/plain', body],
    ['text/plain;charset=UTF-8', body], // what fetch sends for a string body
    ['Multipart/Form-Data; boundary=x', body],
  ])('a POST as %s is refused with 415 and a sentence', async (contentType, payload) => {
    for (const origin of [undefined, ownOrigin(), LISTED]) {
      const res = await post('/graphql', payload, { 'content-type': contentType, ...(origin ? { origin } : {}) });
      expect(res.status).toBe(415);
      expect(res.headers.get('accept')).toBe('application/json');
      const { errors } = (await res.json()) as { errors: { message: string }[] };
      expect(errors[0]!.message).toMatch(
        /^POST bodies as [a-z/-]+ are refused .*cross-site request forgery.*send application\/json$/,
      );
    }
  });

  it('a POST as application/json runs', async () => {
    const res = await post('/graphql', body, { 'content-type': 'application/json; charset=utf-8' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('a GET query runs; a GET mutation is refused (405)', async () => {
    const ok = await get(`/graphql?query=${encodeURIComponent('{ __typename }')}`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ data: { __typename: 'Query' } });
    const mutation = await get(`/graphql?query=${encodeURIComponent('mutation { __typename }')}`);
    expect(mutation.status).toBe(405);
    expect(mutation.headers.get('allow')).toBe('POST');
    expect(await mutation.text()).toMatch(/Can only perform a mutation operation from a POST request/);
  });
});

describe('headers of JSON answers', () => {
  it('every kind carries X-Content-Type-Options: nosniff and Cache-Control: no-store', async () => {
    const gqlJson = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
    const cases: [string, Promise<Response>, number][] = [
      ['GraphQL POST', query(), 200],
      ['GraphQL GET', get('/graphql?query=%7B__typename%7D'), 200],
      ['GraphQL syntax error', post('/graphql', '{"query":"{"}', gqlJson), 400],
      ['GraphQL validation error', post('/graphql', '{"query":"{ nope }"}', gqlJson), 400],
      [
        'GraphQL validation error (legacy JSON)',
        post('/graphql', '{"query":"{ nope }"}', { 'content-type': 'application/json' }),
        200,
      ],
      ['GraphQL bad JSON', post('/graphql', '{', gqlJson), 400],
      ['REST', get('/api/patterns/daily'), 200],
      ['REST bad parameter', get('/api/patterns/daily?limit=0'), 400],
      ['REST unknown tier', get('/api/patterns/weekly'), 404],
      ['REST wrong method', post('/api/patterns/daily', '', {}), 405],
      ['/healthz', get('/healthz'), 200],
      ['not found', get('/nothing'), 404],
      ['CORS refusal', query(FOREIGN), 403],
      ['CSRF refusal', post('/graphql', '{}', { 'content-type': 'text/plain' }), 415],
    ];
    for (const [name, pending, status] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(status);
      expect(res.headers.get('content-type'), name).toMatch(/^application\/(graphql-response\+)?json/);
      expect(res.headers.get('x-content-type-options'), name).toBe('nosniff');
      expect(res.headers.get('cache-control'), name).toBe('no-store');
      await res.body?.cancel();
    }
  });
});

/** A raw connection that records what the server sends and when it hangs up. */
function rawConnection(): { socket: Socket; received: () => string; closedAt: Promise<number> } {
  const socket = connect(Number(new URL(system.httpUrl).port), '127.0.0.1');
  disposers.add(() => void socket.destroy());
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closedAt = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  return { socket, received: () => received, closedAt };
}

/** Writes `line` every `everyMs` until the socket closes: a slow client that never finishes. */
function dribble(socket: Socket, line: string, everyMs: number): void {
  const timer = setInterval(() => (socket.writable ? socket.write(line) : clearInterval(timer)), everyMs);
  socket.once('close', () => clearInterval(timer));
}

describe('HTTP timeouts', () => {
  it('defaults: headers 10 s, request 30 s; the headers timeout may not exceed the request timeout', () => {
    expect(loadConfig({}).http).toMatchObject({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 });
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).toThrow(
      /HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS/,
    );
  });

  it('a client sending its headers slowly is cut off (408) after the headers timeout, while others are served', async () => {
    const slow = rawConnection();
    const started = Date.now();
    slow.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    dribble(slow.socket, 'X-Slow: 1\r\n', 100);
    // Meanwhile the server answers everyone else.
    await waitFor(() => Date.now() - started > HEADERS_TIMEOUT_MS / 2, { what: 'half the timeout' });
    expect((await get('/healthz')).status).toBe(200);
    expect((await query()).status).toBe(200);
    const closedAt = await slow.closedAt;
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAt - started).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(closedAt - started).toBeLessThan(HEADERS_TIMEOUT_MS + 2_000);
  });

  it('a client sending its body slowly is cut off (408) after the request timeout, while others are served', async () => {
    const slow = rawConnection();
    const started = Date.now();
    slow.socket.write(
      'POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{',
    );
    dribble(slow.socket, ' ', 100);
    await waitFor(() => Date.now() - started > HEADERS_TIMEOUT_MS + 200, { what: 'past the headers timeout' });
    expect(slow.socket.destroyed).toBe(false); // its headers were complete in time
    expect((await query()).status).toBe(200);
    const closedAt = await slow.closedAt;
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAt - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(closedAt - started).toBeLessThan(REQUEST_TIMEOUT_MS + 2_000);
  });

  it('a long answer (an SSE subscription) outlives the request timeout: it limits receiving the request only', async () => {
    const subscription = encodeURIComponent('subscription { patternAlert { id } }');
    const res = await fetch(`${system.httpUrl}/graphql?query=${subscription}`, { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const until = Date.now() + REQUEST_TIMEOUT_MS + 1_000;
    // Quiet cannot be awaited as a condition: read whatever comes (pings) until past the timeout.
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) break;
      const next = await Promise.race([reader.read(), new Promise<'waited'>((r) => setTimeout(() => r('waited'), left))]);
      if (next !== 'waited') expect(next.done, 'the stream ended').toBe(false);
    }
    await reader.cancel();
  });
});

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

  it('nothing this file sent as a credential reached the system’s logs', () => {
    expect(system.logs.join('\n')).not.toContain(TOKEN);
  });
});
