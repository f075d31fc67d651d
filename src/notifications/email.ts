/**
 * Email through `SMTP_URL` with nodemailer (a pool of up to 5 connections), from `EMAIL_FROM`.
 * Each message's Message-ID is made of the delivery id, so a repeated send (a worker killed
 * mid-send) carries the same one and mail clients can fold the copies.
 */
import { createTransport } from 'nodemailer';
import type { EmailContent } from '../domain/notifications.js';
import { withTimeout } from '../lib/timeout.js';
import type { SendResult } from './webhook.js';

export interface Mailer {
  send(to: string, content: EmailContent, deliveryId: number): Promise<SendResult>;
  close(): void;
}

export function createMailer(o: { smtpUrl: string; from: string; timeoutMs: number }): Mailer {
  const transport = createTransport({
    url: o.smtpUrl,
    pool: true,
    maxConnections: 5,
    connectionTimeout: o.timeoutMs,
    greetingTimeout: o.timeoutMs,
    socketTimeout: o.timeoutMs,
  });
  const domain = /@([^>\s]+)>?\s*$/.exec(o.from)?.[1] ?? 'patternwire.invalid';
  return {
    async send(to, content, deliveryId) {
      try {
        const info = await withTimeout(
          transport.sendMail({
            from: o.from,
            to,
            subject: content.subject,
            text: content.text,
            html: content.html,
            messageId: `<delivery-${deliveryId}@${domain}>`,
            headers: { 'X-Patternwire-Delivery': String(deliveryId) },
          }),
          o.timeoutMs,
          `the SMTP server did not accept the message within ${o.timeoutMs} ms`,
        );
        return { outcome: 'delivered', detail: `the SMTP server answered: ${String(info.response).slice(0, 200)}` };
      } catch (err) {
        // A refusal (5xx) is retried like a timeout: the contract retries anything but success.
        return { outcome: 'retry', error: `sending the email failed: ${(err as Error).message.slice(0, 300)}` };
      }
    },
    close() {
      transport.close();
    },
  };
}
