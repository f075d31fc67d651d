/**
 * Notification rules and deliveries over GraphQL (contract §7). Every user — READER or ADMIN —
 * manages their own rules only (§5): another user's rule or watchlist is NOT_FOUND, as if it did
 * not exist. Every input has a bound (`RULE_LIMITS`), and a webhook target is resolved and
 * checked against the SSRF rule before the rule exists.
 */
import type { Principal } from '../auth/authenticator.js';
import type { NotificationSettings } from '../config/env.js';
import type { Database, DrizzleDb } from '../db/client.js';
import {
  createRule,
  createTestDelivery,
  deleteRule,
  findRule,
  listDeliveries,
  listRules,
  setRuleEnabled,
  type DeliveryRow,
  type RuleWithWatchlist,
} from '../db/notifications.js';
import { RULE_LIMITS, targetProblem } from '../domain/notifications.js';
import { generateWebhookSecret, sealSecret } from '../domain/webhook-secret.js';
import { resolveTarget, TargetRefusedError, TargetUnresolvedError } from '../notifications/address-check.js';
import { enqueueDeliveries, type NotificationQueue } from '../queues/queues.js';
import type { DeliveryStatus, NotificationChannel } from '../schema/db.js';
import type { Priority } from '../schema/events.js';
import type { Detection } from '../schema/topics.js';
import { badUserInput, notFound } from './errors.js';

export interface NotifyContext {
  /** For its write lock: a rule is created between two detection batches. */
  database: Database;
  queue: NotificationQueue;
  settings: NotificationSettings;
}

interface NotificationContext {
  db: DrizzleDb;
  principal: Principal;
  notify: NotifyContext;
}

interface RuleInput {
  watchlistId: string;
  channel: NotificationChannel;
  target: string;
  minPriority: Priority;
  maxPerHour: number;
}

/** A delivery as the API serves it. */
type Delivery = DeliveryRow & { rule: RuleWithWatchlist; detection: Detection | null };

const MAX_FIRST = 500;

function idArg(value: unknown, argument: string, what: string): number {
  const s = String(value);
  if (!/^\d{1,15}$/.test(s))
    throw badUserInput(`${argument} must be a ${what} id (digits), got "${s.slice(0, 40)}"`, { argument });
  return Number(s);
}

async function ownRule(ctx: NotificationContext, id: number): Promise<RuleWithWatchlist> {
  const rule = await findRule(ctx.db, ctx.principal.userId, id);
  if (!rule) throw notFound(`no notification rule ${id}`);
  return rule;
}

/** The input checked: every bound, the target's form, and for a webhook the addresses it resolves to. */
async function checkedInput(input: RuleInput, settings: NotificationSettings) {
  const watchlistId = idArg(input.watchlistId, 'input.watchlistId', 'watchlist');
  const target = input.target.trim();
  const { maxPerHourMin: min, maxPerHourMax: max } = RULE_LIMITS;
  if (!Number.isInteger(input.maxPerHour) || input.maxPerHour < min || input.maxPerHour > max) {
    throw badUserInput(`input.maxPerHour must be from ${min} to ${max}, got ${input.maxPerHour}`, {
      argument: 'input.maxPerHour',
    });
  }
  if (input.channel === 'EMAIL' && !(settings.smtpUrl && settings.emailFrom)) {
    throw badUserInput('email notifications are not configured on this server (SMTP_URL and EMAIL_FROM): use a webhook', {
      argument: 'input.channel',
    });
  }
  const problem = targetProblem(input.channel, target, settings.allowPrivate);
  if (problem) throw badUserInput(`input.target: ${problem}`, { argument: 'input.target' });
  if (input.channel === 'WEBHOOK') {
    try {
      await resolveTarget(new URL(target), settings.allowPrivate);
    } catch (err) {
      if (err instanceof TargetRefusedError || err instanceof TargetUnresolvedError) {
        throw badUserInput(`input.target: ${err.message}`, { argument: 'input.target' });
      }
      throw err;
    }
  }
  return { watchlistId, target };
}

export const notificationResolvers = {
  NotificationRule: {
    id: (r: RuleWithWatchlist) => String(r.id),
  },
  NotificationDelivery: {
    id: (d: Delivery) => String(d.id),
  },
  Query: {
    notificationRules: (_: unknown, __: unknown, ctx: NotificationContext) => listRules(ctx.db, ctx.principal.userId),
    notificationDeliveries: async (
      _: unknown,
      args: { ruleId?: string | null; status?: DeliveryStatus | null; first: number },
      ctx: NotificationContext,
    ): Promise<Delivery[]> => {
      if (!Number.isInteger(args.first) || args.first < 1 || args.first > MAX_FIRST) {
        throw badUserInput(`first must be an integer from 1 to ${MAX_FIRST}, got ${args.first}`, { argument: 'first' });
      }
      const ruleId = args.ruleId != null ? idArg(args.ruleId, 'ruleId', 'notification rule') : null;
      if (ruleId !== null) await ownRule(ctx, ruleId);
      const list = await listDeliveries(ctx.db, ctx.principal.userId, { ruleId, status: args.status ?? null, first: args.first });
      return list.map(({ delivery, rule, detection }) => ({ ...delivery, rule, detection }));
    },
  },
  Mutation: {
    createNotificationRule: async (_: unknown, args: { input: RuleInput }, ctx: NotificationContext) => {
      const { settings, database } = ctx.notify;
      // Checked (DNS included) before the write lock is taken.
      const { watchlistId, target } = await checkedInput(args.input, settings);
      const secret = args.input.channel === 'WEBHOOK' ? generateWebhookSecret() : null;
      const created = await database.withWriteLock((db) =>
        createRule(
          db,
          {
            userId: ctx.principal.userId,
            watchlistId,
            channel: args.input.channel,
            target,
            minPriority: args.input.minPriority,
            maxPerHour: args.input.maxPerHour,
            secret: secret === null ? null : sealSecret(secret, settings.secretKey),
          },
          { perUser: RULE_LIMITS.rulesPerUser, perWatchlist: RULE_LIMITS.rulesPerWatchlist },
        ),
      );
      if (!created.ok) {
        switch (created.reason) {
          case 'watchlist':
            throw notFound(`no watchlist ${args.input.watchlistId}`);
          case 'rulesPerUser':
            throw badUserInput(
              `you have ${RULE_LIMITS.rulesPerUser} notification rules, the most a user may have (limit ${RULE_LIMITS.rulesPerUser}): delete one first`,
              { argument: 'input', limit: 'rulesPerUser', max: RULE_LIMITS.rulesPerUser },
            );
          case 'rulesPerWatchlist':
            throw badUserInput(
              `watchlist ${watchlistId} has ${RULE_LIMITS.rulesPerWatchlist} notification rules, the most one watchlist may have (limit ${RULE_LIMITS.rulesPerWatchlist})`,
              { argument: 'input.watchlistId', limit: 'rulesPerWatchlist', max: RULE_LIMITS.rulesPerWatchlist },
            );
        }
      }
      return { rule: created.rule, secret };
    },
    setNotificationRuleEnabled: async (_: unknown, args: { id: string; enabled: boolean }, ctx: NotificationContext) => {
      const rule = await setRuleEnabled(ctx.db, ctx.principal.userId, idArg(args.id, 'id', 'notification rule'), args.enabled);
      if (!rule) throw notFound(`no notification rule ${args.id}`);
      return rule;
    },
    deleteNotificationRule: async (_: unknown, args: { id: string }, ctx: NotificationContext) => {
      if (!(await deleteRule(ctx.db, ctx.principal.userId, idArg(args.id, 'id', 'notification rule'))))
        throw notFound(`no notification rule ${args.id}`);
      return true;
    },
    testNotificationRule: async (_: unknown, args: { id: string }, ctx: NotificationContext): Promise<Delivery> => {
      const rule = await ownRule(ctx, idArg(args.id, 'id', 'notification rule'));
      const delivery = await createTestDelivery(ctx.db, rule, RULE_LIMITS.testsPerHour, 3_600_000);
      if (!delivery) {
        throw badUserInput(
          `rule ${rule.id} was tested ${RULE_LIMITS.testsPerHour} times within the last hour, the most allowed (limit ${RULE_LIMITS.testsPerHour}): try again later`,
          { argument: 'id', limit: 'testsPerHour', max: RULE_LIMITS.testsPerHour },
        );
      }
      // Awaited: the answer means the send is queued (a lost add would be the sweep's, later).
      await enqueueDeliveries(ctx.notify.queue, [delivery]);
      return { ...delivery, rule, detection: null };
    },
  },
};
