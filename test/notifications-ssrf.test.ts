import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/env.js';
import { codeOf, gqlAs } from './utils/auth.js';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { waitFor } from './utils/wait.js';
import { startReceiver, type Receiver } from './utils/webhook-receiver.js';

/**
 * The SSRF rule of contract §7, with real DNS (`localhost`) and real sockets. At creation: an
 * API with WEBHOOK_ALLOW_PRIVATE off refuses every non-public target. At send: a rule made
 * through an API that allowed it (as if the name had resolved to a public address then) is sent
 * by a worker that does not: the worker resolves again, refuses, and the delivery is FAILED
 * without a retry — the receiver listening on 127.0.0.1 never hears a thing.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

let t: TestEnv;
let strictApi: TestSystem;
let looseApi: TestSystem;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver(disposers);
  t = await createTestEnv(disposers, 'notifyssrf', {
    WEBHOOK_ALLOW_PRIVATE: 'false',
    NOTIFY_BACKOFF_MS: '100',
    NOTIFY_ATTEMPTS: '3',
  });
  strictApi = await startTestSystem(disposers, t.config, { api: true, migrate: true });
  // The same database and queues; only the SSRF setting differs.
  looseApi = await startTestSystem(disposers, loadConfig({ ...t.env, WEBHOOK_ALLOW_PRIVATE: 'true' }), { api: true });
  await startTestSystem(disposers, t.config, { ingest: true, worker: true });
});

const gql = <T = Record<string, unknown>>(api: TestSystem, query: string, variables?: Record<string, unknown>) =>
  gqlAs<T>(api.httpUrl, null, query, variables);

async function watchlist(symbol: string): Promise<string> {
  const r = await gql<{ createWatchlist: { id: string } }>(
    strictApi,
    `mutation($input: WatchlistInput!) { createWatchlist(input: $input) { id } }`,
    { input: { name: `ssrf ${symbol}`, filter: { symbols: [symbol] } } },
  );
  return r.body.data!.createWatchlist.id;
}

const createRule = (api: TestSystem, watchlistId: string, target: string) =>
  gql<{ createNotificationRule: { rule: { id: string }; secret: string } }>(
    api,
    `mutation($input: NotificationRuleInput!) { createNotificationRule(input: $input) { rule { id } secret } }`,
    { input: { watchlistId, channel: 'WEBHOOK', target } },
  );

describe('the SSRF rule', () => {
  it('refuses at creation every target that is not https:// to a public address, saying which address and why', async () => {
    const id = await watchlist('NEVER');
    const cases: [string, RegExp][] = [
      ['https://localhost/hook', /the host localhost resolves to (127\.0\.0\.1|::1), a loopback address/],
      ['https://[::ffff:127.0.0.1]/hook', /::ffff:7f00:1 is an IPv4-mapped IPv6 address \(of 127\.0\.0\.1\)/],
      ['https://[::1]:8443/hook', /::1 is a loopback address/],
      ['https://10.0.0.1/hook', /10\.0\.0\.1 is a private address/],
      ['https://192.168.1.20/hook', /a private address/],
      ['https://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address/],
      ['https://[fc00::1]/hook', /fc00::1 is a unique local address \(ULA\)/],
      ['https://[fe80::1]/hook', /a link-local address/],
      ['https://0.0.0.0/hook', /an unspecified/],
      ['https://100.64.1.1/hook', /carrier-grade NAT/],
      ['https://2130706433/hook', /127\.0\.0\.1 is a loopback address/], // 127.0.0.1 as one number
      ['http://example.com/hook', /must start with https:\/\/ \(http:\/\/ only with WEBHOOK_ALLOW_PRIVATE=true\)/],
      [`http://127.0.0.1:${receiver.port}/hook`, /must start with https:\/\//],
      ['https://no-such-host.invalid/hook', /the host no-such-host\.invalid does not resolve/],
    ];
    for (const [target, message] of cases) {
      const r = await createRule(strictApi, id, target);
      expect(codeOf(r), target).toBe('BAD_USER_INPUT');
      expect(r.body.errors![0]!.message, target).toMatch(message);
      expect(r.body.errors![0]!.message, target).toMatch(/^input\.target: /);
    }
    // A public address is fine (nothing is sent to it here: no detection matches).
    const ok = await createRule(strictApi, id, 'https://93.184.216.34/hook');
    expect(ok.body.errors).toBeUndefined();
    const rules = await gql<{ notificationRules: { target: string }[] }>(strictApi, '{ notificationRules { target } }');
    expect(rules.body.data!.notificationRules.map((r) => r.target)).toEqual(['https://93.184.216.34/hook']);
  });

  it('checks again at send time: a target that now resolves to a loopback address is FAILED, not retried, and never called', async () => {
    const id = await watchlist('SSRF');
    const viaName = await createRule(looseApi, id, `https://localhost:${receiver.port}/by-name`);
    const viaHttp = await createRule(looseApi, id, `http://127.0.0.1:${receiver.port}/plain-http`);
    expect(viaName.body.errors).toBeUndefined();
    expect(viaHttp.body.errors).toBeUndefined();
    receiver.route('/by-name', viaName.body.data!.createNotificationRule.secret);
    receiver.route('/plain-http', viaHttp.body.data!.createNotificationRule.secret);

    const publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    await publisher.publish(
      t.config.channels.patterns,
      JSON.stringify({ event_id: `ssrf-${t.id}`, pattern: 'BreakoutBO', symbol: 'SSRF', confidence: 0.97, source: 'ssrf-test' }),
    );
    type D = { status: string; attempts: number; lastError: string | null; rule: { id: string } };
    const list = () =>
      gql<{ notificationDeliveries: D[] }>(
        strictApi,
        '{ notificationDeliveries(first: 10) { status attempts lastError rule { id } } }',
      ).then((r) => r.body.data!.notificationDeliveries);
    // FAILED is final (an outcome is written only over PENDING or RETRYING): FAILED after one
    // attempt means it was never retried.
    await waitFor(async () => (await list()).filter((d) => d.status === 'FAILED').length === 2, {
      what: 'both deliveries FAILED',
    });
    const final = await list();
    const byRule = (r: typeof viaName) => final.find((d) => d.rule.id === r.body.data!.createNotificationRule.rule.id)!;
    expect(byRule(viaName)).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(byRule(viaName).lastError).toMatch(/the host localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
    expect(byRule(viaHttp)).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(byRule(viaHttp).lastError).toMatch(/must start with https:\/\//);
    expect(receiver.calls).toEqual([]);
  });
});
