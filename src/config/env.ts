import { z } from 'zod';
import { LOG_FORMATS, LOG_LEVELS } from '../lib/logger.js';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * `CORS_ORIGINS`: exact origins, comma-separated, each as a browser sends it in `Origin`
 * (`https://app.example.com`, `http://localhost:5173`). No `*`, no path, no trailing slash.
 */
const originList = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const origins = value
      .split(',')
      .map((o) => o.trim())
      .filter((o) => o !== '');
    for (const o of origins) {
      let canonical: string | undefined;
      try {
        const url = new URL(o);
        if (url.protocol === 'http:' || url.protocol === 'https:') canonical = url.origin;
      } catch {
        canonical = undefined;
      }
      if (canonical !== o) {
        ctx.addIssue({
          code: 'custom',
          input: o,
          message:
            o === '*'
              ? '"*" is not accepted: list each origin allowed to call the API'
              : `"${o}" is not an exact origin such as https://app.example.com (http or https, host and port, no path or trailing slash${canonical ? `; did you mean ${canonical}?` : ''})`,
        });
      }
    }
    return origins;
  });
/**
 * Contract §7: a delivery is tried 10 times over about two hours. The 9 delays double from the
 * base, so they sum to 511 × base: 7,200,000 / 511 ≈ 14.09 s makes 2 h.
 */
export const NOTIFY_DEFAULT_ATTEMPTS = 10;
export const NOTIFY_DEFAULT_BACKOFF_MS = Math.round(7_200_000 / (2 ** (NOTIFY_DEFAULT_ATTEMPTS - 1) - 1));

// ---- Limits (contract §5): past one, the client gets an error naming it and its variable. ----
/** Each limit's environment variable, named in the errors the client gets past it. */
export const LIMIT_VARIABLES = {
  aliases: 'GRAPHQL_MAX_ALIASES',
  depth: 'GRAPHQL_MAX_DEPTH',
  directives: 'GRAPHQL_MAX_DIRECTIVES',
  tokens: 'GRAPHQL_MAX_TOKENS',
  cost: 'GRAPHQL_MAX_COST',
  bodyBytes: 'HTTP_MAX_BODY_BYTES',
  wsMessageBytes: 'WS_MAX_MESSAGE_BYTES',
  subscriptionsPerSocket: 'WS_MAX_SUBSCRIPTIONS',
  replay: 'REPLAY_MAX_DETECTIONS',
} as const;
export type Limits = Record<keyof typeof LIMIT_VARIABLES, number>;
export const DEFAULT_LIMITS: Limits = {
  aliases: 15,
  depth: 10,
  directives: 50,
  tokens: 2_000,
  cost: 5_000,
  bodyBytes: 1_048_576,
  wsMessageBytes: 65_536,
  subscriptionsPerSocket: 100,
  replay: 10_000,
};
const limitSchema = Object.fromEntries(
  Object.entries(LIMIT_VARIABLES).map(([key, variable]) => [variable, positiveInt(DEFAULT_LIMITS[key as keyof Limits])]),
) as Record<(typeof LIMIT_VARIABLES)[keyof Limits], ReturnType<typeof positiveInt>>;
// ---- end of limits ----

const envSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(4000),
    HOST: z.string().min(1).default('0.0.0.0'),
    REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
    REDIS_CLUSTER_NODES: z
      .string()
      .regex(/^\s*[^\s,:]+:\d+\s*(,\s*[^\s,:]+:\d+\s*)*$/, 'must be a comma-separated list of host:port')
      .optional(),
    DATABASE_URL: z
      .string()
      .url()
      .refine((u) => /^postgres(ql)?:\/\//.test(u), 'must start with postgres:// or postgresql://')
      .optional(),
    DATA_DIR: z.string().min(1).default('.data'),
    CHANNEL_PATTERNS: z.string().min(1).default('tickstock.events.patterns'),
    CHANNEL_BACKTEST_PROGRESS: z.string().min(1).default('tickstock.events.backtesting.progress'),
    CHANNEL_BACKTEST_RESULTS: z.string().min(1).default('tickstock.events.backtesting.results'),
    CHANNEL_HEALTH: z.string().min(1).default('tickstock.health.status'),
    QUEUE_PREFIX: z.string().min(1).default('{patternwire}'),
    PUBSUB_PREFIX: z.string().min(1).default('patternwire'),
    WORKER_CONCURRENCY: positiveInt(64),
    JOB_ATTEMPTS: positiveInt(1000),
    JOB_BACKOFF_MS: positiveInt(200),
    JOB_BACKOFF_MAX_MS: positiveInt(30_000),
    COMPLETED_JOB_RETENTION_SECONDS: positiveInt(86_400),
    SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
    SUBSCRIBER_QUEUE_LIMIT: positiveInt(10_000),
    INBOX_REPLAY_MAX: positiveInt(1_000),
    PIPELINE_RETRY_ALERT_SECONDS: positiveInt(60),
    INGEST_STREAMS: z.enum(['true', 'false', '1', '0', 'on', 'off']).default('false'),
    INGEST_STREAM_GROUP: z.string().min(1).default('patternwire'),
    INGEST_STREAM_CLAIM_MS: positiveInt(30_000),
    INGEST_STREAM_MAX_QUEUED_JOBS: positiveInt(100),
    REJECT_RETENTION_DAYS: z.coerce.number().positive().default(7),
    REJECT_MAX_ROWS: positiveInt(100_000),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
    LOG_FORMAT: z.enum(LOG_FORMATS).default('auto'),
    // Identity (contract §5)
    AUTH_MODE: z.enum(['required', 'off']).default('required'),
    AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters (HS256 needs 256 bits)').optional(),
    AUTH_JWKS_URL: z.string().url().optional(),
    AUTH_JWT_ISSUER: z.string().min(1).optional(),
    AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
    AUTH_RECHECK_MS: positiveInt(2_000),
    WS_MAX_PER_USER: positiveInt(20),
    RATE_LIMIT_PER_SECOND: positiveInt(20),
    RATE_LIMIT_BURST: positiveInt(100),
    // Browsers (contract §5): who may call cross-origin, and how long a request may take to arrive.
    CORS_ORIGINS: originList,
    HTTP_HEADERS_TIMEOUT_MS: positiveInt(10_000),
    HTTP_REQUEST_TIMEOUT_MS: positiveInt(30_000),
    // Operations (contract §8): where a worker or an ingest serves GET /metrics.
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    ...limitSchema,
    // Notifications (contract §7)
    SMTP_URL: z
      .string()
      .url()
      .refine((u) => /^smtps?:\/\//.test(u), 'must start with smtp:// or smtps://')
      .optional(),
    EMAIL_FROM: z.string().min(3).optional(),
    WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false', '1', '0', 'on', 'off']).default('false'),
    WEBHOOK_SECRET_KEY: z
      .string()
      .refine(
        (k) => /^[0-9a-fA-F]{64}$/.test(k) || Buffer.from(k, 'base64').length === 32,
        'must be 32 bytes, as 64 hex digits or base64 (openssl rand -base64 32)',
      )
      .optional(),
    NOTIFY_TIMEOUT_MS: positiveInt(10_000),
    NOTIFY_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(NOTIFY_DEFAULT_ATTEMPTS),
    NOTIFY_BACKOFF_MS: positiveInt(NOTIFY_DEFAULT_BACKOFF_MS),
    NOTIFY_CAP_WINDOW_MS: positiveInt(3_600_000),
    NOTIFY_CONCURRENCY: positiveInt(50),
    NOTIFY_SWEEP_MS: positiveInt(10_000),
    NOTIFY_DB_POOL: positiveInt(4),
  })
  .superRefine((e, ctx) => {
    if (e.AUTH_JWT_SECRET && e.AUTH_JWKS_URL) {
      ctx.addIssue({ code: 'custom', path: ['AUTH_JWKS_URL'], message: 'set AUTH_JWT_SECRET or AUTH_JWKS_URL, not both' });
    }
    // BullMQ's scripts touch several keys of a queue at once: on a cluster they must share a slot,
    // else every job fails with CROSSSLOT. The first `{…}` of a key (non-empty) picks its slot.
    if (e.REDIS_CLUSTER_NODES && !/^[^{]*\{[^}]+\}/.test(e.QUEUE_PREFIX)) {
      ctx.addIssue({
        code: 'custom',
        path: ['QUEUE_PREFIX'],
        message: `must contain a Redis Cluster hash tag such as {patternwire} when REDIS_CLUSTER_NODES is set, got "${e.QUEUE_PREFIX}"`,
      });
    }
    if (e.SMTP_URL && !e.EMAIL_FROM) {
      ctx.addIssue({
        code: 'custom',
        path: ['EMAIL_FROM'],
        message: 'must be set when SMTP_URL is (the sender of notification emails)',
      });
    }
    if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['HTTP_HEADERS_TIMEOUT_MS'],
        message: `must not exceed HTTP_REQUEST_TIMEOUT_MS (${e.HTTP_REQUEST_TIMEOUT_MS}), got ${e.HTTP_HEADERS_TIMEOUT_MS}`,
      });
    }
  });

export type Env = z.infer<typeof envSchema>;

export interface RedisTarget {
  url: string;
  /** Set for Redis Cluster: the seed nodes; `url` then only lends its credentials. */
  clusterNodes: { host: string; port: number }[] | null;
}

export interface Config {
  port: number;
  host: string;
  redis: RedisTarget;
  /** Undefined means the embedded PGlite database under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  channels: Channels;
  queuePrefix: string;
  pubsubPrefix: string;
  worker: {
    concurrency: number;
    attempts: number;
    backoffMs: number;
    backoffMaxMs: number;
    completedRetentionSeconds: number;
  };
  shutdownTimeoutMs: number;
  /** Events queued for one subscription before its client is dropped as too slow. */
  subscriberQueueLimit: number;
  /** The most a `myAlerts` replay sends, the newest kept (contract §6). */
  inboxReplayMax: number;
  /** A job retrying for longer than this makes the pipeline `degraded`. */
  retryAlertMs: number;
  logLevel: Env['LOG_LEVEL'];
  /** JSON lines, pino-pretty's lines, or `auto`: pretty when stdout is a terminal. */
  logFormat: Env['LOG_FORMAT'];
  auth: {
    mode: 'required' | 'off';
    jwt: { secret: string | null; jwksUrl: string | null; issuer: string | null; audience: string | null };
    /** How often open WebSockets' credentials are checked again (revocation, expiry, deletion). */
    recheckMs: number;
    maxSocketsPerUser: number;
    rateLimit: { perSecond: number; burst: number };
  };
  /** Also read each channel from a Redis Stream of the same name (at-least-once ingest). */
  streams: { enabled: boolean; group: string; claimIdleMs: number; maxQueuedJobs: number };
  /** How long, and how many, rejected messages are kept (contract §1); the count keeps counting. */
  rejects: { retentionDays: number; maxRows: number };
  /** Browsers and slow clients (contract §5): CORS allow-list and Node's HTTP timeouts. */
  http: { corsOrigins: string[]; headersTimeoutMs: number; requestTimeoutMs: number };
  /** Contract §5's per-operation, per-request and per-socket limits (`LIMIT_VARIABLES`). */
  limits: Limits;
  /** A process without the API serves `GET /metrics` here (unset: it serves none). */
  metricsPort: number | undefined;
  notifications: NotificationSettings;
}

/** Contract §7: webhooks and email. */
export interface NotificationSettings {
  /** Null: email rules are refused (nothing to send them through). */
  smtpUrl: string | null;
  emailFrom: string | null;
  /** Also http:// and private, loopback, link-local … addresses (tests, internal networks). */
  allowPrivate: boolean;
  /** Seals webhook secrets at rest (AES-256-GCM); null keeps them as they are. */
  secretKey: Buffer | null;
  /** A webhook or SMTP exchange that has not finished in this time is retried. */
  timeoutMs: number;
  attempts: number;
  /** First retry delay; doubles each time (the default makes 10 attempts span about 2 h). */
  backoffMs: number;
  /** The window of a rule's maxPerHour (an hour; shorter in tests), and of its digest. */
  capWindowMs: number;
  /** Deliveries one worker process sends at once. */
  concurrency: number;
  /** How often a worker re-queues deliveries left PENDING this long (their job was never added). */
  sweepMs: number;
  /** PostgreSQL connections of the delivery engine, apart from the detection writer's. */
  dbPoolSize: number;
}

export interface Channels {
  patterns: string;
  backtestProgress: string;
  backtestResults: string;
  health: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses the environment once. Throws a ConfigError naming every bad variable,
 * so a process fails at start-up rather than at first use.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set": shells and Procfile runners often export blanks.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid environment:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    redis: {
      url: e.REDIS_URL,
      clusterNodes: e.REDIS_CLUSTER_NODES
        ? e.REDIS_CLUSTER_NODES.split(',').map((node) => {
            const [host, port] = node.trim().split(':');
            return { host: host!, port: Number(port) };
          })
        : null,
    },
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    channels: {
      patterns: e.CHANNEL_PATTERNS,
      backtestProgress: e.CHANNEL_BACKTEST_PROGRESS,
      backtestResults: e.CHANNEL_BACKTEST_RESULTS,
      health: e.CHANNEL_HEALTH,
    },
    queuePrefix: e.QUEUE_PREFIX,
    pubsubPrefix: e.PUBSUB_PREFIX,
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      attempts: e.JOB_ATTEMPTS,
      backoffMs: e.JOB_BACKOFF_MS,
      backoffMaxMs: e.JOB_BACKOFF_MAX_MS,
      completedRetentionSeconds: e.COMPLETED_JOB_RETENTION_SECONDS,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    subscriberQueueLimit: e.SUBSCRIBER_QUEUE_LIMIT,
    inboxReplayMax: e.INBOX_REPLAY_MAX,
    retryAlertMs: e.PIPELINE_RETRY_ALERT_SECONDS * 1000,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    auth: {
      mode: e.AUTH_MODE,
      jwt: {
        secret: e.AUTH_JWT_SECRET ?? null,
        jwksUrl: e.AUTH_JWKS_URL ?? null,
        issuer: e.AUTH_JWT_ISSUER ?? null,
        audience: e.AUTH_JWT_AUDIENCE ?? null,
      },
      recheckMs: e.AUTH_RECHECK_MS,
      maxSocketsPerUser: e.WS_MAX_PER_USER,
      rateLimit: { perSecond: e.RATE_LIMIT_PER_SECOND, burst: e.RATE_LIMIT_BURST },
    },
    streams: {
      enabled: ['true', '1', 'on'].includes(e.INGEST_STREAMS),
      group: e.INGEST_STREAM_GROUP,
      claimIdleMs: e.INGEST_STREAM_CLAIM_MS,
      maxQueuedJobs: e.INGEST_STREAM_MAX_QUEUED_JOBS,
    },
    rejects: { retentionDays: e.REJECT_RETENTION_DAYS, maxRows: e.REJECT_MAX_ROWS },
    http: {
      corsOrigins: e.CORS_ORIGINS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    },
    limits: Object.fromEntries(Object.entries(LIMIT_VARIABLES).map(([key, variable]) => [key, e[variable]])) as Limits,
    metricsPort: e.METRICS_PORT,
    notifications: {
      smtpUrl: e.SMTP_URL ?? null,
      emailFrom: e.EMAIL_FROM ?? null,
      allowPrivate: ['true', '1', 'on'].includes(e.WEBHOOK_ALLOW_PRIVATE),
      secretKey: e.WEBHOOK_SECRET_KEY
        ? Buffer.from(e.WEBHOOK_SECRET_KEY, /^[0-9a-fA-F]{64}$/.test(e.WEBHOOK_SECRET_KEY) ? 'hex' : 'base64')
        : null,
      timeoutMs: e.NOTIFY_TIMEOUT_MS,
      attempts: e.NOTIFY_ATTEMPTS,
      backoffMs: e.NOTIFY_BACKOFF_MS,
      capWindowMs: e.NOTIFY_CAP_WINDOW_MS,
      concurrency: e.NOTIFY_CONCURRENCY,
      sweepMs: e.NOTIFY_SWEEP_MS,
      dbPoolSize: e.NOTIFY_DB_POOL,
    },
  };
}
