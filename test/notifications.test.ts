import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, createTestUser, gqlAs, type TestUser } from './utils/auth.js';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { startSmtpServer, type SmtpSink } from './utils/smtp.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { waitFor, waitForQuiet } from './utils/wait.js';
import { startReceiver, type Receiver } from './utils/webhook-receiver.js';

/**
 * Contract §7 through the real pipeline: detections published on Redis, stored, matched against
 * notification rules, sent by the worker to a real HTTP receiver that verifies every call with
 * the `standardwebhooks` package, and to a real SMTP server. Two users, AUTH_MODE=required.
 * Short timeouts, backoff and cap window (settings), so retries and digests happen in seconds.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

const TIMEOUT_MS = 1_000;
const ATTEMPTS = 4;
const CAP_WINDOW_MS = 3_000;

let t: TestEnv;
let system: TestSystem;
let receiver: Receiver;
let smtp: SmtpSink;
let alice: TestUser;
let bob: TestUser;
let publisher: Redis;

beforeAll(async () => {
  receiver = await startReceiver(disposers);
  smtp = await startSmtpServer(disposers);
  t = await createTestEnv(disposers, 'notify', {
    AUTH_MODE: 'required',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    SMTP_URL: smtp.url,
    EMAIL_FROM: 'Patternwire <alerts@patternwire.test>',
    NOTIFY_TIMEOUT_MS: String(TIMEOUT_MS),
    NOTIFY_ATTEMPTS: String(ATTEMPTS),
    NOTIFY_BACKOFF_MS: '150',
    NOTIFY_CAP_WINDOW_MS: String(CAP_WINDOW_MS),
    NOTIFY_SWEEP_MS: '1000',
    WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
  });
  system = await startTestSystem(disposers, t.config);
  alice = await createTestUser(t.config.databaseUrl!, 'alice', 'READER');
  bob = await createTestUser(t.config.databaseUrl!, 'bob', 'READER');
  publisher = new Redis(REDIS_URL);
  disposers.add(() => void publisher.disconnect());
});

const gql = <T = Record<string, unknown>>(user: TestUser, query: string, variables?: Record<string, unknown>) =>
  gqlAs<T>(system.httpUrl, user.token, query, variables);

/** Publishes a detection the way the engine does; resolves with its event id. */
async function publish(symbol: string, confidence: number, pattern = 'BreakoutBO'): Promise<string> {
  const eventId = `n-${randomUUID()}`;
  await publisher.publish(
    t.config.channels.patterns,
    JSON.stringify({ event_id: eventId, pattern, symbol, confidence, timeframe: '1d', source: 'notify-test' }),
  );
  return eventId;
}

/** The stored id of a published detection, once it is stored. */
async function storedId(user: TestUser, eventId: string, symbol: string): Promise<string> {
  return waitFor(
    async () => {
      const r = await gql<{ patterns: { nodes: { id: string; eventId: string }[] } }>(
        user,
        `query($s: [String!]) { patterns(filter: { symbols: $s }, first: 50) { nodes { id eventId } } }`,
        { s: [symbol] },
      );
      return r.body.data?.patterns.nodes.find((n) => n.eventId === eventId)?.id;
    },
    { timeoutMs: 10_000, what: `detection ${eventId} stored` },
  );
}

async function createWatchlist(user: TestUser, name: string, filter: Record<string, unknown>): Promise<string> {
  const r = await gql<{ createWatchlist: { id: string } }>(
    user,
    `mutation($input: WatchlistInput!) { createWatchlist(input: $input) { id } }`,
    { input: { name, filter } },
  );
  expect(r.body.errors).toBeUndefined();
  return r.body.data!.createWatchlist.id;
}

interface RuleCreated {
  rule: { id: string; enabled: boolean; target: string; watchlist: { id: string; name: string } };
  secret: string | null;
}

const createRule = (user: TestUser, input: Record<string, unknown>) =>
  gql<{ createNotificationRule: RuleCreated }>(
    user,
    `mutation($input: NotificationRuleInput!) {
      createNotificationRule(input: $input) { rule { id enabled target watchlist { id name } } secret }
    }`,
    { input },
  );

async function webhookRule(user: TestUser, watchlistId: string, path: string, extra: Record<string, unknown> = {}) {
  const r = await createRule(user, { watchlistId, channel: 'WEBHOOK', target: `${receiver.base}${path}`, ...extra });
  expect(r.body.errors).toBeUndefined();
  return r.body.data!.createNotificationRule;
}

interface Delivery {
  id: string;
  kind: string;
  status: string;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  detection: { id: string; eventId: string } | null;
  rule: { id: string };
}

async function deliveries(user: TestUser, ruleId: string, status?: string): Promise<Delivery[]> {
  const r = await gql<{ notificationDeliveries: Delivery[] }>(
    user,
    `query($r: ID, $s: DeliveryStatus) { notificationDeliveries(ruleId: $r, status: $s, first: 500) {
      id kind status attempts lastError createdAt deliveredAt detection { id eventId } rule { id } } }`,
    { r: ruleId, s: status ?? null },
  );
  expect(r.body.errors).toBeUndefined();
  return r.body.data!.notificationDeliveries;
}

const waitForCalls = (path: string, n: number, timeoutMs = 15_000) =>
  waitFor(() => receiver.on(path).length >= n, { timeoutMs, what: `${n} call(s) on ${path} (got ${receiver.on(path).length})` });

describe('webhooks', () => {
  it('sends each matching detection stored after the rule was created, once, signed so standardwebhooks verifies it', async () => {
    const watchlistId = await createWatchlist(alice, 'Breakouts', { symbols: ['AAPL', 'NVDA'] });
    // Stored before the rule exists: never sent.
    const before = await publish('AAPL', 0.99);
    await storedId(alice, before, 'AAPL');

    const created = await webhookRule(alice, watchlistId, '/alice', { minPriority: 'HIGH' });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.rule).toMatchObject({
      enabled: true,
      target: `${receiver.base}/alice`,
      watchlist: { id: watchlistId, name: 'Breakouts' },
    });
    receiver.route('/alice', created.secret);

    const critical = await publish('AAPL', 0.95);
    await publish('AAPL', 0.75); // MEDIUM: below the rule's minPriority
    await publish('MSFT', 0.97); // not on the watchlist
    const high = await publish('NVDA', 0.85);
    await waitForCalls('/alice', 2);
    await waitForQuiet(() => receiver.on('/alice').length, { quietMs: 1_000 });
    const calls = receiver.on('/alice');
    expect(calls.map((c) => c.verifyError)).toEqual([null, null]);
    expect(calls.map((c) => (c.payload!.data['detection'] as { eventId: string }).eventId).sort()).toEqual(
      [critical, high].sort(),
    );

    const first = calls.find((c) => (c.payload!.data['detection'] as { eventId: string }).eventId === critical)!;
    const criticalId = await storedId(alice, critical, 'AAPL');
    expect(first.payload).toMatchObject({
      type: 'pattern.alert',
      data: {
        detection: {
          id: criticalId,
          eventId: critical,
          symbol: 'AAPL',
          pattern: 'BreakoutBO',
          confidence: 0.95,
          tier: 'DAILY',
          priority: 'CRITICAL',
          timeframe: '1d',
          source: 'notify-test',
        },
        watchlist: { id: watchlistId, name: 'Breakouts' },
      },
    });
    expect(Object.keys(first.payload!)).toEqual(['type', 'timestamp', 'data']);
    expect(Number.isNaN(Date.parse(first.payload!.timestamp))).toBe(false);
    expect(first.signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    // Tampered with, the call no longer verifies: the signature covers id, timestamp and body.
    const { Webhook } = await import('standardwebhooks');
    expect(() =>
      new Webhook(created.secret!).verify(first.body.replace('0.95', '0.96'), {
        'webhook-id': first.id,
        'webhook-timestamp': first.timestamp,
        'webhook-signature': first.signature,
      }),
    ).toThrow(/No matching signature/);

    // Stored sealed under WEBHOOK_SECRET_KEY: the database alone does not hold the secret.
    const c = new pg.Client({ connectionString: t.config.databaseUrl });
    await c.connect();
    const stored = (await c.query<{ secret: string }>('select secret from notification_rules where id = $1', [created.rule.id]))
      .rows[0]!;
    await c.end();
    expect(stored.secret).toMatch(/^aes-256-gcm:/);
    expect(stored.secret).not.toContain(created.secret!.slice('whsec_'.length, 20));

    // The webhook-id is the delivery's id; the delivery is DELIVERED after one attempt.
    const list = await deliveries(alice, created.rule.id);
    expect(list).toHaveLength(2);
    expect(list.map((d) => d.id).sort()).toEqual(calls.map((c) => c.id).sort());
    for (const d of list) {
      expect(d).toMatchObject({
        kind: 'ALERT',
        status: 'DELIVERED',
        attempts: 1,
        lastError: null,
        rule: { id: created.rule.id },
      });
      expect(d.deliveredAt).not.toBeNull();
    }
    expect(list.find((d) => d.id === first.id)!.detection).toEqual({ id: criticalId, eventId: critical });
    // Newest first.
    expect(Number(list[0]!.id)).toBeGreaterThan(Number(list[1]!.id));
  });

  it('testNotificationRule sends a pattern.test now, signed, with detection null; at most 10 an hour per rule', async () => {
    const watchlistId = await createWatchlist(alice, 'Test sends', { symbols: ['TEST1'] });
    const created = await webhookRule(alice, watchlistId, '/tests');
    receiver.route('/tests', created.secret);
    const r = await gql<{ testNotificationRule: Delivery }>(
      alice,
      `mutation($id: ID!) { testNotificationRule(id: $id) { id kind status attempts detection { id } rule { id } } }`,
      { id: created.rule.id },
    );
    expect(r.body.errors).toBeUndefined();
    const test = r.body.data!.testNotificationRule;
    expect(test).toMatchObject({ kind: 'TEST', detection: null, rule: { id: created.rule.id } });
    await waitForCalls('/tests', 1);
    const [call] = receiver.on('/tests');
    expect(call!.verifyError).toBeNull();
    expect(call!.id).toBe(test.id);
    expect(call!.payload).toMatchObject({ type: 'pattern.test', data: { watchlist: { id: watchlistId, name: 'Test sends' } } });
    await waitFor(async () => (await deliveries(alice, created.rule.id))[0]?.status === 'DELIVERED', {
      what: 'the test delivered',
    });

    for (let i = 2; i <= 10; i++) {
      const again = await gql(alice, `mutation($id: ID!) { testNotificationRule(id: $id) { id } }`, { id: created.rule.id });
      expect(again.body.errors, `test ${i}`).toBeUndefined();
    }
    const eleventh = await gql(alice, `mutation($id: ID!) { testNotificationRule(id: $id) { id } }`, { id: created.rule.id });
    expect(codeOf(eleventh)).toBe('BAD_USER_INPUT');
    expect(eleventh.body.errors![0]!.message).toMatch(/tested 10 times within the last hour.*limit 10/);
  });

  it('retries after a receiver outage: RETRYING while it is down, DELIVERED once it is back, with the same webhook-id', async () => {
    const down = await startReceiver(disposers);
    const watchlistId = await createWatchlist(alice, 'Outage', { symbols: ['OUT'] });
    const r = await createRule(alice, { watchlistId, channel: 'WEBHOOK', target: `${down.base}/back` });
    const created = r.body.data!.createNotificationRule;
    down.route('/back', created.secret);
    await down.close(); // nothing listens: connection refused
    await publish('OUT', 0.95);
    const retrying = await waitFor(async () => (await deliveries(alice, created.rule.id, 'RETRYING'))[0], {
      what: 'the delivery RETRYING while the receiver is down',
    });
    expect(retrying.lastError).toMatch(/ECONNREFUSED/);
    await down.reopen();
    await waitFor(() => down.on('/back').length >= 1, { timeoutMs: 15_000, what: 'the retry reaching the receiver' });
    const delivered = await waitFor(async () => (await deliveries(alice, created.rule.id, 'DELIVERED'))[0], {
      what: 'DELIVERED',
    });
    expect(delivered.id).toBe(retrying.id);
    expect(delivered.attempts).toBeGreaterThanOrEqual(2);
    expect(down.on('/back').map((c) => [c.id, c.verifyError])).toEqual([[retrying.id, null]]);
  });

  it('a delivery recorded but never queued (its writer died in between) is queued by the sweep and sent', async () => {
    const watchlistId = await createWatchlist(alice, 'Orphaned', { symbols: ['ORPH'] });
    const created = await webhookRule(alice, watchlistId, '/orphan');
    receiver.route('/orphan', created.secret);
    // What a writer killed between its delivery insert and its queue add leaves: a PENDING row, no job.
    const c = new pg.Client({ connectionString: t.config.databaseUrl });
    await c.connect();
    disposers.add(() => c.end());
    const { rows } = await c.query<{ id: string }>(
      `insert into notification_deliveries (rule_id, user_id, kind, status) values ($1, $2, 'TEST', 'PENDING') returning id`,
      [created.rule.id, alice.userId],
    );
    await waitForCalls('/orphan', 1, 20_000);
    expect(receiver.on('/orphan').map((x) => [x.id, x.verifyError])).toEqual([[rows[0]!.id, null]]);
    await waitFor(async () => (await deliveries(alice, created.rule.id, 'DELIVERED')).length === 1, { what: 'DELIVERED' });
  });

  it('an answer other than 2xx is retried, with the same id, until the last attempt: then FAILED with the last error', async () => {
    const watchlistId = await createWatchlist(alice, 'Always 500', { symbols: ['ERR'] });
    const created = await webhookRule(alice, watchlistId, '/500');
    receiver.route('/500', created.secret, () => ({ status: 500, body: 'database on fire' }));
    await publish('ERR', 0.95);
    const failed = await waitFor(async () => (await deliveries(alice, created.rule.id, 'FAILED'))[0], {
      timeoutMs: 20_000,
      what: 'the delivery FAILED after its attempts',
    });
    expect(failed.attempts).toBe(ATTEMPTS);
    expect(failed.lastError).toMatch(/the receiver answered 500: database on fire \(attempt 4, the last\)/);
    const calls = receiver.on('/500');
    expect(calls).toHaveLength(ATTEMPTS);
    expect(new Set(calls.map((c) => c.id))).toEqual(new Set([failed.id]));
    // Each attempt is signed afresh (its own timestamp), and each verifies.
    expect(calls.every((c) => c.verifyError === null)).toBe(true);
    // The rule stays enabled: only 410 disables it.
    const rules = await gql<{ notificationRules: { id: string; enabled: boolean }[] }>(
      alice,
      '{ notificationRules { id enabled } }',
    );
    expect(rules.body.data!.notificationRules.find((x) => x.id === created.rule.id)!.enabled).toBe(true);
  });

  it('follows no redirect, and reads only the start of a long answer', async () => {
    const watchlistId = await createWatchlist(alice, 'Odd answers', { symbols: ['ODD'] });
    const redirected = await webhookRule(alice, watchlistId, '/redirect');
    const chatty = await webhookRule(alice, watchlistId, '/chatty');
    receiver.route('/redirect', redirected.secret, () => ({ status: 307, headers: { location: `${receiver.base}/elsewhere` } }));
    receiver.route('/elsewhere', redirected.secret);
    receiver.route('/chatty', chatty.secret, () => ({ status: 503, body: `overloaded ${'x'.repeat(200_000)}` }));
    await publish('ODD', 0.95);
    const failed = async (ruleId: string) =>
      waitFor(async () => (await deliveries(alice, ruleId, 'FAILED'))[0], { timeoutMs: 20_000, what: `rule ${ruleId} FAILED` });
    expect((await failed(redirected.rule.id)).lastError).toMatch(/answered 307 \(redirects are not followed\)/);
    const long = (await failed(chatty.rule.id)).lastError!;
    expect(long).toMatch(/^the receiver answered 503: overloaded x+ \(attempt 4, the last\)$/);
    expect(long.length).toBeLessThan(400);
    expect(receiver.on('/elsewhere')).toEqual([]);
  });

  it('no answer within NOTIFY_TIMEOUT_MS is retried', async () => {
    const watchlistId = await createWatchlist(alice, 'Hangs', { symbols: ['HANG'] });
    const created = await webhookRule(alice, watchlistId, '/hang');
    receiver.route('/hang', created.secret, (_, nth) => (nth === 1 ? 'hang' : { status: 204 }));
    await publish('HANG', 0.95);
    const delivered = await waitFor(async () => (await deliveries(alice, created.rule.id, 'DELIVERED'))[0], {
      timeoutMs: 15_000,
      what: 'delivered on the second attempt',
    });
    expect(delivered.attempts).toBe(2);
    expect(receiver.on('/hang').map((c) => c.id)).toEqual([delivered.id, delivered.id]);
  });

  it('410 Gone fails the delivery and disables the rule, which then makes no deliveries until enabled again', async () => {
    const watchlistId = await createWatchlist(alice, 'Gone', { symbols: ['GONE'] });
    const created = await webhookRule(alice, watchlistId, '/gone');
    receiver.route('/gone', created.secret, () => ({ status: 410 }));
    await publish('GONE', 0.95);
    const failed = await waitFor(async () => (await deliveries(alice, created.rule.id, 'FAILED'))[0], { what: 'FAILED on 410' });
    expect(failed.attempts).toBe(1);
    expect(failed.lastError).toMatch(/answered 410.*the rule is disabled/);
    const rule = async () =>
      (
        await gql<{ notificationRules: { id: string; enabled: boolean; disabledReason: string | null }[] }>(
          alice,
          '{ notificationRules { id enabled disabledReason } }',
        )
      ).body.data!.notificationRules.find((x) => x.id === created.rule.id)!;
    expect(await rule()).toMatchObject({ enabled: false, disabledReason: expect.stringMatching(/410/) });

    // Disabled: a match makes nothing. A marker on another rule, published after it, shows it was processed.
    const markerList = await createWatchlist(alice, 'Marker', { symbols: ['MARK'] });
    const marker = await webhookRule(alice, markerList, '/marker');
    receiver.route('/marker', marker.secret);
    await publish('GONE', 0.95);
    await publish('MARK', 0.95);
    await waitForCalls('/marker', 1);
    expect(await deliveries(alice, created.rule.id)).toHaveLength(1);
    expect(receiver.on('/gone')).toHaveLength(1);

    const enabled = await gql<{ setNotificationRuleEnabled: { enabled: boolean; disabledReason: string | null } }>(
      alice,
      `mutation($id: ID!) { setNotificationRuleEnabled(id: $id, enabled: true) { enabled disabledReason } }`,
      { id: created.rule.id },
    );
    expect(enabled.body.data!.setNotificationRuleEnabled).toEqual({ enabled: true, disabledReason: null });
    receiver.route('/gone', created.secret, () => ({ status: 200 }));
    await publish('GONE', 0.95);
    await waitFor(async () => (await deliveries(alice, created.rule.id, 'DELIVERED')).length === 1, {
      what: 'delivered once enabled',
    });
  });

  it('past maxPerHour, matches are SUPPRESSED and go out as one pattern.digest when the window ends', async () => {
    const watchlistId = await createWatchlist(alice, 'Capped', { symbols: ['CAP'] });
    const created = await webhookRule(alice, watchlistId, '/cap', { maxPerHour: 2 });
    receiver.route('/cap', created.secret);
    const events: string[] = [];
    for (let i = 0; i < 5; i++) events.push(await publish('CAP', 0.9 + i / 100));
    const ids = await Promise.all(events.map((e) => storedId(alice, e, 'CAP')));
    await waitFor(async () => (await deliveries(alice, created.rule.id)).length >= 6, { what: '5 alerts and a digest recorded' });
    const list = await deliveries(alice, created.rule.id);
    const alerts = list.filter((d) => d.kind === 'ALERT');
    const suppressed = alerts.filter((d) => d.status === 'SUPPRESSED');
    expect(alerts).toHaveLength(5);
    expect(suppressed).toHaveLength(3);
    // The first two by detection id were sent; the three after them held back.
    const sorted = [...ids].sort((a, b) => Number(a) - Number(b));
    expect(suppressed.map((d) => d.detection!.id).sort((a, b) => Number(a) - Number(b))).toEqual(sorted.slice(2));
    expect(list.filter((d) => d.kind === 'DIGEST')).toHaveLength(1);

    const digestCall = await waitFor(() => receiver.on('/cap').find((c) => c.payload?.type === 'pattern.digest'), {
      timeoutMs: CAP_WINDOW_MS + 10_000,
      what: 'the digest',
    });
    expect(digestCall.verifyError).toBeNull();
    const data = digestCall.payload!.data as { count: number; detections: { id: string }[]; watchlist: { name: string } };
    expect(data.count).toBe(3);
    expect(data.watchlist.name).toBe('Capped');
    expect(data.detections.map((d) => d.id)).toEqual(sorted.slice(2));
    // Sent at the end of the window the cap filled, not before.
    const firstDelivery = Math.min(...alerts.map((d) => Date.parse(d.createdAt)));
    expect(digestCall.at).toBeGreaterThanOrEqual(firstDelivery + CAP_WINDOW_MS - 50);
    await waitForQuiet(() => receiver.on('/cap').length, { quietMs: 1_000 });
    expect(receiver.on('/cap').map((c) => c.payload?.type)).toEqual(['pattern.alert', 'pattern.alert', 'pattern.digest']);
    const digest = (await deliveries(alice, created.rule.id)).find((d) => d.kind === 'DIGEST')!;
    expect(digest).toMatchObject({ status: 'DELIVERED', detection: null, id: digestCall.id });
  });
});

describe('digests and disabled rules', () => {
  it('a digest due while its rule is disabled is FAILED and closed, so the next suppression opens a new one', async () => {
    const watchlistId = await createWatchlist(alice, 'Paused', { symbols: ['PAUSE'] });
    const created = await webhookRule(alice, watchlistId, '/paused', { maxPerHour: 1 });
    receiver.route('/paused', created.secret);
    const setEnabled = (enabled: boolean) =>
      gql(alice, `mutation($id: ID!, $e: Boolean!) { setNotificationRuleEnabled(id: $id, enabled: $e) { id } }`, {
        id: created.rule.id,
        e: enabled,
      });
    await publish('PAUSE', 0.95);
    await publish('PAUSE', 0.96);
    await waitFor(async () => (await deliveries(alice, created.rule.id)).some((d) => d.kind === 'DIGEST'), {
      what: 'a digest opened',
    });
    await setEnabled(false);
    const failedDigest = await waitFor(
      async () => (await deliveries(alice, created.rule.id, 'FAILED')).find((d) => d.kind === 'DIGEST'),
      { timeoutMs: CAP_WINDOW_MS + 10_000, what: 'the digest FAILED while the rule is disabled' },
    );
    expect(failedDigest.lastError).toBe('not sent: the rule is disabled');

    await setEnabled(true);
    for (let i = 0; i < 3; i++) await publish('PAUSE', 0.97);
    const digest = await waitFor(() => receiver.on('/paused').find((c) => c.payload?.type === 'pattern.digest'), {
      timeoutMs: CAP_WINDOW_MS + 10_000,
      what: 'a new digest sent',
    });
    expect(digest.id).not.toBe(failedDigest.id);
    expect((digest.payload!.data as { count: number }).count).toBeGreaterThanOrEqual(2);
  });
});

describe('email', () => {
  it('sends the contract’s subject with a text and an HTML part, through SMTP with credentials, retrying a refusal', async () => {
    const watchlistId = await createWatchlist(alice, 'Mail <b>&</b> "quotes"', { symbols: ['MAIL'] });
    // The server refuses the first try (451): the delivery is retried, then accepted.
    smtp.refuse('alice@example.com', 1);
    const r = await createRule(alice, { watchlistId, channel: 'EMAIL', target: 'alice@example.com' });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data!.createNotificationRule.secret).toBeNull();
    const ruleId = r.body.data!.createNotificationRule.rule.id;
    const eventId = await publish('MAIL', 0.95, 'Breakout<BO>');
    const mail = await waitFor(() => smtp.messages.find((m) => m.to.includes('alice@example.com')), { what: 'the email' });
    expect(mail.subject).toBe('[CRITICAL] Breakout<BO> on MAIL (0.95)');
    expect(mail.from).toBe('alerts@patternwire.test');
    expect(mail.text).toContain('Watchlist:    Mail <b>&</b> "quotes"');
    expect(mail.text).toContain('Pattern:      Breakout<BO>');
    expect(mail.html).toContain('Mail &lt;b&gt;&amp;&lt;/b&gt; &quot;quotes&quot;');
    expect(mail.html).toContain('Breakout&lt;BO&gt;');
    expect(mail.html).not.toContain('<b>');
    const [delivery] = await waitFor(async () => {
      const list = await deliveries(alice, ruleId, 'DELIVERED');
      return list.length ? list : null;
    });
    expect(delivery!.detection!.eventId).toBe(eventId);
    expect(delivery!.attempts).toBe(2);
    expect(smtp.messages.filter((m) => m.to.includes('alice@example.com'))).toHaveLength(1);
    expect(mail.headers.get('message-id')).toMatch(new RegExp(`^<delivery-${delivery!.id}@patternwire\\.test>$`));
  });
});

describe('rules: bounds and ownership', () => {
  it('another user’s rules, deliveries and watchlists are NOT_FOUND, and absent from their lists', async () => {
    const watchlistId = await createWatchlist(alice, 'Private', { symbols: ['PRIV'] });
    const created = await webhookRule(alice, watchlistId, '/private');
    receiver.route('/private', created.secret);
    const id = created.rule.id;
    expect(
      (await gql<{ notificationRules: unknown[] }>(bob, '{ notificationRules { id } }')).body.data!.notificationRules,
    ).toEqual([]);
    expect(
      (await gql<{ notificationDeliveries: unknown[] }>(bob, '{ notificationDeliveries { id } }')).body.data!
        .notificationDeliveries,
    ).toEqual([]);
    for (const [query, vars] of [
      [`mutation($id: ID!) { setNotificationRuleEnabled(id: $id, enabled: false) { id } }`, { id }],
      [`mutation($id: ID!) { deleteNotificationRule(id: $id) }`, { id }],
      [`mutation($id: ID!) { testNotificationRule(id: $id) { id } }`, { id }],
      [`query($id: ID!) { notificationDeliveries(ruleId: $id) { id } }`, { id }],
    ] as const) {
      expect(codeOf(await gql(bob, query, vars)), query).toBe('NOT_FOUND');
    }
    const onAlices = await createRule(bob, { watchlistId, channel: 'WEBHOOK', target: `${receiver.base}/bob` });
    expect(codeOf(onAlices)).toBe('NOT_FOUND');
    // Alice's rule is untouched.
    const mine = await gql<{ notificationRules: { id: string; enabled: boolean }[] }>(
      alice,
      '{ notificationRules { id enabled } }',
    );
    expect(mine.body.data!.notificationRules.find((x) => x.id === id)).toEqual({ id, enabled: true });
  });

  it('each bound, one step past it, is BAD_USER_INPUT naming the limit', async () => {
    const carol = await createTestUser(t.config.databaseUrl!, 'carol', 'READER');
    const lists = [] as string[];
    for (let i = 0; i < 5; i++) lists.push(await createWatchlist(carol, `list ${i}`, { symbols: [`C${i}`] }));
    const make = (input: Record<string, unknown>) =>
      createRule(carol, { watchlistId: lists[0], channel: 'WEBHOOK', target: `${receiver.base}/carol`, ...input });
    const expectRefused = async (input: Record<string, unknown>, message: RegExp) => {
      const r = await make(input);
      expect(codeOf(r), JSON.stringify(input).slice(0, 80)).toBe('BAD_USER_INPUT');
      expect(r.body.errors![0]!.message).toMatch(message);
    };
    await expectRefused({ maxPerHour: 0 }, /input\.maxPerHour must be from 1 to 1000, got 0/);
    await expectRefused({ maxPerHour: 1001 }, /from 1 to 1000, got 1001/);
    const longUrl = (n: number) => `${receiver.base}/${'a'.repeat(n - receiver.base.length - 1)}`;
    await expectRefused({ target: longUrl(2049) }, /at most 2048 characters/);
    expect((await make({ target: longUrl(2048), maxPerHour: 1000 })).body.errors).toBeUndefined();
    await expectRefused({ channel: 'EMAIL', target: 'not-an-address' }, /one address such as/);
    await expectRefused({ channel: 'EMAIL', target: `${'a'.repeat(64)}@${'b'.repeat(186)}.com` }, /at most 254 characters/);
    await expectRefused({ target: 'ftp://example.com/' }, /https:\/\/ or http:\/\//);
    expect(codeOf(await make({ watchlistId: 'abc' }))).toBe('BAD_USER_INPUT');
    expect(codeOf(await make({ minPriority: 'URGENT' }))).toBe('BAD_USER_INPUT');

    // 5 per watchlist: lists[0] holds 1 (the 2,048-character one); 4 more, then the 6th refused.
    for (let i = 0; i < 4; i++) expect((await make({})).body.errors).toBeUndefined();
    await expectRefused({}, /watchlist \d+ has 5 notification rules, the most one watchlist may have \(limit 5\)/);
    // 20 per user: 15 more across the other lists, then the 21st refused.
    for (let i = 0; i < 15; i++) expect((await make({ watchlistId: lists[1 + (i % 4)] })).body.errors).toBeUndefined();
    await expectRefused({ watchlistId: lists[4] }, /you have 20 notification rules, the most a user may have \(limit 20\)/);

    for (const first of [0, 501]) {
      const r = await gql(carol, `query($f: Int) { notificationDeliveries(first: $f) { id } }`, { f: first });
      expect(codeOf(r)).toBe('BAD_USER_INPUT');
      expect(r.body.errors![0]!.message).toMatch(/first must be an integer from 1 to 500/);
    }
  });

  it('deleting a watchlist deletes its rules and their deliveries', async () => {
    const watchlistId = await createWatchlist(alice, 'Short-lived', { symbols: ['GO'] });
    const created = await webhookRule(alice, watchlistId, '/short');
    receiver.route('/short', created.secret);
    await gql(alice, `mutation($id: ID!) { testNotificationRule(id: $id) { id } }`, { id: created.rule.id });
    await waitForCalls('/short', 1);
    expect(
      (await gql(alice, `mutation($id: ID!) { deleteWatchlist(id: $id) }`, { id: watchlistId })).body.errors,
    ).toBeUndefined();
    const rules = await gql<{ notificationRules: { id: string }[] }>(alice, '{ notificationRules { id } }');
    expect(rules.body.data!.notificationRules.map((r) => r.id)).not.toContain(created.rule.id);
    expect(
      codeOf(await gql(alice, `query($id: ID!) { notificationDeliveries(ruleId: $id) { id } }`, { id: created.rule.id })),
    ).toBe('NOT_FOUND');
  });
});
