/**
 * The delivery engine: one attempt at one delivery. Claim it (a delivery already settled, or
 * gone with its rule, is left alone: a repeated job sends nothing), build what it says, send
 * it by webhook or email, and settle the outcome — DELIVERED, RETRYING or FAILED — in `settle`,
 * the one place that decides it. The queue (workers/notify) retries RETRYING with backoff.
 */
import type { Database } from '../db/client.js';
import {
  claimDeliveries,
  collectDigest,
  digestContents,
  writeOutcomes,
  type ClaimedDelivery,
  type Outcome,
} from '../db/notifications.js';
import { createBatcher } from '../lib/batch.js';
import {
  DIGEST_MAX_LISTED,
  emailContent,
  sampleDetection,
  webhookBody,
  type NotificationMessage,
} from '../domain/notifications.js';
import { openSecret } from '../domain/webhook-secret.js';
import type { Logger } from '../lib/logger.js';
import type { NotificationSettings } from '../config/env.js';
import { createMailer, type Mailer } from './email.js';
import type { DeliveryOutcomeListener } from './outcomes.js';
import { createWebhookSender, type SendResult } from './webhook.js';

export interface AttemptOutcome {
  /** SKIPPED: nothing to do (settled already, or its rule was deleted). */
  status: 'DELIVERED' | 'RETRYING' | 'FAILED' | 'SKIPPED';
  error: string | null;
}

export interface DeliveryEngine {
  /** One attempt; `final` when the queue will not try again. Throws only on a database fault. */
  attempt(deliveryId: number, final: boolean): Promise<AttemptOutcome>;
  /** Drops every connection: sends in flight fail at once (and are RETRYING). */
  close(): void;
}

export interface DeliveryEngineOptions {
  /** The engine's own pool (apart from the detection writer's); its write lock guards digests. */
  database: Database;
  settings: NotificationSettings;
  logger: Logger;
  onOutcome?: DeliveryOutcomeListener;
}

export function createDeliveryEngine(o: DeliveryEngineOptions): DeliveryEngine {
  const { db } = o.database;
  const s = o.settings;
  const webhooks = createWebhookSender({ timeoutMs: s.timeoutMs, allowPrivate: s.allowPrivate });
  // Claims and outcomes of concurrent attempts share statements: 50 sends in flight are a few
  // round trips, not 100 queued on the engine's pool (under load the pool was the bottleneck).
  const claim = createBatcher((ids: number[]) => claimDeliveries(db, ids));
  const writeOutcome = createBatcher((outcomes: Outcome[]) => writeOutcomes(db, outcomes));
  const mailer: Mailer | null =
    s.smtpUrl && s.emailFrom ? createMailer({ smtpUrl: s.smtpUrl, from: s.emailFrom, timeoutMs: s.timeoutMs }) : null;

  /** What the delivery says, or (a string) why there is nothing to send. */
  async function messageOf(d: ClaimedDelivery): Promise<NotificationMessage | string> {
    const at = d.createdAt;
    switch (d.kind) {
      case 'ALERT':
        return d.detection
          ? { type: 'pattern.alert', at, watchlist: d.watchlist, detection: d.detection }
          : 'its detection no longer exists';
      case 'TEST':
        return { type: 'pattern.test', at, watchlist: d.watchlist, detection: sampleDetection(at) };
      case 'DIGEST': {
        // Under the write lock: no batch is suppressing into this digest while it closes.
        await o.database.withWriteLock((locked) => collectDigest(locked, d.id));
        const { count, detections } = await digestContents(db, d.id, DIGEST_MAX_LISTED);
        if (count === 0) return 'the digest carries no alert';
        return { type: 'pattern.digest', at: d.dueAt ?? at, watchlist: d.watchlist, count, detections };
      }
    }
  }

  async function send(d: ClaimedDelivery, message: NotificationMessage): Promise<SendResult> {
    if (d.rule.channel === 'EMAIL') {
      if (!mailer) return { outcome: 'retry', error: 'email is not configured on this worker (SMTP_URL and EMAIL_FROM)' };
      return mailer.send(d.rule.target, emailContent(message), d.id);
    }
    let secret: string;
    try {
      if (!d.rule.secret) throw new Error('the rule has no signing secret');
      secret = openSecret(d.rule.secret, s.secretKey);
    } catch (err) {
      // A configuration fault (the key missing or changed): retried, so fixing it in time delivers.
      return { outcome: 'retry', error: (err as Error).message };
    }
    return webhooks.send({ target: d.rule.target, secret, id: String(d.id), body: webhookBody(message) });
  }

  /**
   * The one place an attempt's outcome is decided and written: 2xx (or the SMTP server's
   * acceptance) is DELIVERED; 410 is FAILED and disables the rule; a refused target is FAILED
   * (not retried: the same policy answers the same); anything else is RETRYING, or FAILED with
   * the last error on the final attempt.
   */
  async function settle(d: ClaimedDelivery, result: SendResult | { outcome: 'failed'; error: string }, final: boolean) {
    let status: 'DELIVERED' | 'RETRYING' | 'FAILED';
    let error: string | null = null;
    let disableRule: string | undefined;
    switch (result.outcome) {
      case 'delivered':
        status = 'DELIVERED';
        break;
      case 'gone':
        status = 'FAILED';
        error = result.error;
        disableRule = `the receiver answered 410 Gone to delivery ${d.id} at ${new Date().toISOString()}`;
        break;
      case 'refused':
      case 'failed':
        status = 'FAILED';
        error = result.error;
        break;
      case 'retry':
        status = final ? 'FAILED' : 'RETRYING';
        error = final ? `${result.error} (attempt ${d.attempts}, the last)` : result.error;
        break;
    }
    const wrote = await writeOutcome({ id: d.id, status, error, disableRule });
    if (wrote) o.onOutcome?.(d.rule.channel, status);
    if (disableRule) o.logger.warn(`[notify] rule ${d.rule.id} ${disableRule}`);
    return { status, error };
  }

  return {
    async attempt(deliveryId, final) {
      const d = await claim(deliveryId);
      if (!d) return { status: 'SKIPPED', error: null };
      if (!d.rule.enabled && d.kind !== 'TEST') {
        // A digest is closed all the same: an open one would keep the rule from opening the next.
        if (d.kind === 'DIGEST') await o.database.withWriteLock((locked) => collectDigest(locked, d.id));
        return settle(d, { outcome: 'failed', error: 'not sent: the rule is disabled' }, final);
      }
      const message = await messageOf(d);
      if (typeof message === 'string') return settle(d, { outcome: 'failed', error: `not sent: ${message}` }, final);
      return settle(d, await send(d, message), final);
    },
    close() {
      webhooks.close();
      mailer?.close();
    },
  };
}
