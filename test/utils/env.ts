import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { deleteRedisKeys } from './resources.js';
import { loadConfig, type Config } from '../../src/config/env.js';

/** Where the suite finds its services; override with TEST_REDIS_URL / TEST_DATABASE_URL. */
export const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const ADMIN_DATABASE_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export type Disposer = () => Promise<void> | void;

/** Teardown steps, run last-added first (like graphql-ws's test utils). */
export function createDisposers() {
  const steps: Disposer[] = [];
  return {
    add(step: Disposer) {
      steps.push(step);
    },
    async run() {
      while (steps.length) {
        const step = steps.pop()!;
        try {
          await step();
        } catch (err) {
          console.error('dispose step failed:', err);
        }
      }
    },
  };
}
export type Disposers = ReturnType<typeof createDisposers>;

export function uniqueId(label: string): string {
  return `${label}_${randomBytes(4).toString('hex')}`;
}

/** A fresh PostgreSQL database, dropped by the disposer. */
export async function createTestDatabase(disposers: Disposers, label: string): Promise<string> {
  // A bare identifier: lower case, letters, digits and underscores only.
  const name = uniqueId(`pw_${label}`)
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  disposers.add(async () => {
    const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestEnv {
  id: string;
  config: Config;
  /** The same settings as environment variables, for child processes. */
  env: Record<string, string>;
}

/**
 * Settings private to one test file: its own database, BullMQ prefix, pub/sub prefix and
 * inbound channel names, so files (and two copies of the suite) never hear each other.
 */
export async function createTestEnv(
  disposers: Disposers,
  label: string,
  overrides: Record<string, string> = {},
): Promise<TestEnv> {
  const id = uniqueId(label);
  const env: Record<string, string> = {
    REDIS_URL,
    DATABASE_URL: await createTestDatabase(disposers, label),
    PORT: '0',
    HOST: '127.0.0.1',
    QUEUE_PREFIX: `{pwt-${id}}`,
    PUBSUB_PREFIX: `pwt-${id}`,
    CHANNEL_PATTERNS: `pwt-${id}.patterns`,
    CHANNEL_BACKTEST_PROGRESS: `pwt-${id}.backtest.progress`,
    CHANNEL_BACKTEST_RESULTS: `pwt-${id}.backtest.results`,
    CHANNEL_HEALTH: `pwt-${id}.health`,
    JOB_BACKOFF_MS: '50',
    JOB_BACKOFF_MAX_MS: '1000',
    LOG_LEVEL: 'warn',
    // Feature tests run with authentication off (everyone an anonymous ADMIN); the identity
    // tests (test/auth*.test.ts) turn it on, as does every deployment by default.
    AUTH_MODE: 'off',
    // Tests poll the API far faster than a person; the rate-limit tests set their own.
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_BURST: '100000',
    WS_MAX_PER_USER: '100000',
    ...overrides,
  };
  disposers.add(async () => void (await deleteRedisKeys(env['REDIS_URL']!, `{pwt-${id}}*`)));
  return { id, config: loadConfig(env), env };
}
