/**
 * A real webhook receiver for the notification tests: node:http on port 0 that verifies every
 * call with the `standardwebhooks` package (what any receiver would run) against the secret of
 * the path it was called on, records it, and answers as the test says (a status, a delay, or
 * no answer at all).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { Disposers } from './env.js';

export interface ReceivedCall {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** The payload as `Webhook.verify` returned it; null when verification failed. */
  payload: { type: string; timestamp: string; data: Record<string, unknown> } | null;
  verifyError: string | null;
  /** Date.now() when the body had arrived. */
  at: number;
}

/** How to answer one call: a status after an optional delay, or never (`hang`). */
export type Answer = { status: number; delayMs?: number; body?: string; headers?: Record<string, string> } | 'hang';

export interface Receiver {
  /** http://127.0.0.1:PORT */
  base: string;
  port: number;
  calls: ReceivedCall[];
  /** Calls on `path` (e.g. `/alice`). */
  on(path: string): ReceivedCall[];
  /** Verify calls on `path` with `secret`; answer them with `answer` (200 by default). */
  route(path: string, secret: string | null, answer?: (call: ReceivedCall, nth: number) => Answer): void;
  /** Stops listening and drops open connections (a hanging call included). */
  close(): Promise<void>;
  /** Listens again on the same port (after an outage). */
  reopen(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startReceiver(disposers: Disposers, port = 0): Promise<Receiver> {
  const routes = new Map<string, { secret: string | null; answer: (call: ReceivedCall, nth: number) => Answer }>();
  const calls: ReceivedCall[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const handler = async (req: IncomingMessage, res: import('node:http').ServerResponse) => {
    const body = await readBody(req);
    const path = (req.url ?? '/').split('?')[0]!;
    const header = (name: string) => String(req.headers[name] ?? '');
    const call: ReceivedCall = {
      path,
      id: header('webhook-id'),
      timestamp: header('webhook-timestamp'),
      signature: header('webhook-signature'),
      body,
      payload: null,
      verifyError: null,
      at: Date.now(),
    };
    const route = routes.get(path);
    try {
      if (!route?.secret) throw new Error(`no secret for ${path}`);
      call.payload = new Webhook(route.secret).verify(body, {
        'webhook-id': call.id,
        'webhook-timestamp': call.timestamp,
        'webhook-signature': call.signature,
      }) as ReceivedCall['payload'];
    } catch (err) {
      call.verifyError = (err as Error).message;
    }
    calls.push(call);
    const answer = route ? route.answer(call, calls.filter((c) => c.path === path).length) : { status: 404 };
    if (answer === 'hang') return;
    const send = () => {
      if (!res.destroyed)
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers }).end(answer.body ?? '');
    };
    if (answer.delayMs) {
      // The receiver's own pacing (a slow receiver is the point), not a wait for a condition.
      const t = setTimeout(() => {
        timers.delete(t);
        send();
      }, answer.delayMs);
      timers.add(t);
    } else send();
  };

  let server: Server;
  const listen = (p: number) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer((req, res) => void handler(req, res));
      s.once('error', reject);
      s.listen(p, '127.0.0.1', () => resolve(s));
    });
  server = await listen(port);
  const actualPort = (server.address() as AddressInfo).port;
  let open = true;
  const close = async () => {
    if (!open) return;
    open = false;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  disposers.add(close);

  return {
    base: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    calls,
    on: (path) => calls.filter((c) => c.path === path),
    route(path, secret, answer = () => ({ status: 200 })) {
      routes.set(path, { secret, answer });
    },
    close,
    async reopen() {
      server = await listen(actualPort);
      open = true;
    },
  };
}
