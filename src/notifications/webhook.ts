/**
 * One webhook call (contract §7): `POST target` with the JSON body, signed by the Standard
 * Webhooks scheme through the `standardwebhooks` package — `webhook-id` (the delivery id, the
 * same on every attempt: receivers deduplicate on it), `webhook-timestamp` (this attempt, in
 * seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
 *
 * The host is resolved and checked (./address-check.ts) and the connection made to the checked
 * addresses only; redirects are not followed; the answer must come within the timeout; at most
 * 4 KiB of its body is read (for the error message).
 */
import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import { webhookUrlProblem } from '../domain/notifications.js';
import { pinnedLookup, resolveTarget, TargetRefusedError, TargetUnresolvedError } from './address-check.js';

export type SendResult =
  | { outcome: 'delivered'; detail: string }
  /** 410 Gone: the receiver asks never to be called again. */
  | { outcome: 'gone'; error: string }
  /** A policy refusal (the target resolves to a forbidden address): not retried. */
  | { outcome: 'refused'; error: string }
  | { outcome: 'retry'; error: string };

export interface WebhookCall {
  target: string;
  /** `whsec_…` */
  secret: string;
  /** `webhook-id`: the delivery id. */
  id: string;
  body: string;
  /** `webhook-timestamp`; now, by default. */
  at?: Date;
}

export interface WebhookSender {
  send(call: WebhookCall): Promise<SendResult>;
  close(): void;
}

const BODY_READ_MAX = 4_096;
const ERROR_BODY_MAX = 300;

/** A receiver's words, safe for `lastError`: one line, cut short. */
const excerpt = (text: string) =>
  text
    .replace(/\p{Cc}+/gu, ' ')
    .trim()
    .slice(0, ERROR_BODY_MAX);

export function createWebhookSender(o: { timeoutMs: number; allowPrivate: boolean }): WebhookSender {
  // Keep-alive: a busy receiver is not a TLS handshake per call. A pooled socket was connected
  // to an address checked when it was opened.
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

  async function send(call: WebhookCall): Promise<SendResult> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), o.timeoutMs);
    try {
      // The URL's form too: http:// is refused once WEBHOOK_ALLOW_PRIVATE is turned off.
      const problem = webhookUrlProblem(call.target, o.allowPrivate);
      if (problem) return { outcome: 'refused', error: problem };
      const url = new URL(call.target);
      const addresses = await resolveTarget(url, o.allowPrivate);
      const at = call.at ?? new Date();
      const body = Buffer.from(call.body, 'utf8');
      const headers = {
        'content-type': 'application/json',
        'content-length': String(body.length),
        'user-agent': 'Patternwire-Webhooks/1',
        'webhook-id': call.id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': new Webhook(call.secret).sign(call.id, at, call.body),
      };
      const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];
      const request = url.protocol === 'https:' ? https.request : http.request;
      const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          url,
          { method: 'POST', headers, agent, lookup: pinnedLookup(addresses), signal: abort.signal },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              if (size < BODY_READ_MAX) chunks.push(chunk);
              size += chunk.length;
              // Enough to say what went wrong; the rest is not read.
              if (size >= BODY_READ_MAX) {
                res.destroy();
                resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8', 0, BODY_READ_MAX) });
              }
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      const said = `the receiver answered ${status}${text.trim() ? `: ${excerpt(text)}` : ''}`;
      if (status >= 200 && status < 300) return { outcome: 'delivered', detail: said };
      if (status === 410) return { outcome: 'gone', error: `${said} (410 Gone: the rule is disabled)` };
      if (status >= 300 && status < 400) return { outcome: 'retry', error: `${said} (redirects are not followed)` };
      return { outcome: 'retry', error: said };
    } catch (err) {
      if (err instanceof TargetRefusedError) return { outcome: 'refused', error: err.message };
      if (err instanceof TargetUnresolvedError) return { outcome: 'retry', error: err.message };
      if (abort.signal.aborted) return { outcome: 'retry', error: `no answer within ${o.timeoutMs} ms` };
      const e = err as NodeJS.ErrnoException;
      return { outcome: 'retry', error: `the call failed: ${e.code ? `${e.code} ` : ''}${e.message}` };
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    send,
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
