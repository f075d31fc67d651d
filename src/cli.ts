#!/usr/bin/env node
import { ConfigError, loadConfig, type Config } from './config/env.js';
import { createDatabase, DatabaseInUseError } from './db/client.js';
import { ensureAdminToken } from './auth/first-start.js';
import { ADMIN_USAGE, runAdminCommand, UsageError } from './runtime/admin-commands.js';
import { runDemo } from './demo.js';
import { createLifecycle, exitOnSignals } from './lib/lifecycle.js';
import { ensureLocalRedis, RedisUnavailableError } from './runtime/local-redis.js';
import { createLogger, processSink } from './lib/logger.js';
import type { Roles } from './runtime/system.js';

const USAGE = `usage: patternwire <command>

  all      API, ingest and workers in one process (applies migrations first)
  api      the GraphQL/REST API (graphql-ws on the same port)
  ingest   subscribes to the detection engine's channels and enqueues jobs
  worker   processes jobs: classify, store, publish
  migrate  applies the database migrations, then exits
  demo     publishes sample detections to a running system and checks they arrive
${ADMIN_USAGE}

Settings come from the environment; see README.md.`;

const ROLES: Record<string, Roles> = {
  all: { api: true, ingest: true, worker: true, migrate: true },
  api: { api: true },
  ingest: { ingest: true },
  worker: { worker: true },
};

async function serve(command: string, config: Config): Promise<void> {
  const roles = ROLES[command]!;
  // Every line says which role wrote it (contract §8); `all` plays every role in one process.
  const logger = createLogger(config.logLevel, processSink(config.logFormat)).child({ role: command });
  const log = logger.info;
  if (command !== 'all' && !config.databaseUrl && (roles.api || roles.worker)) {
    // PGlite is one process's file: separate processes must share a real PostgreSQL.
    throw new ConfigError(
      `DATABASE_URL is required for \`${command}\`: separate processes share one PostgreSQL (only \`all\` may use the embedded database).`,
    );
  }
  const lifecycle = createLifecycle(log);
  exitOnSignals(lifecycle, config.shutdownTimeoutMs, log);
  if (command === 'all') {
    const stopRedis = await ensureLocalRedis(config.redis.url, config.dataDir, log);
    if (stopRedis) lifecycle.defer('private redis-server', stopRedis);
  }
  try {
    // Loaded here, not at the top: `users`, `tokens` and `migrate` need none of the roles' modules
    // (yoga, BullMQ, prom-client, …), and each command is a process of its own.
    const { startSystem } = await import('./runtime/system.js');
    const system = await startSystem(config, roles, lifecycle, logger);
    const db = system.database
      ? system.database.kind === 'pglite'
        ? `embedded PGlite in ${config.dataDir}/pglite`
        : 'PostgreSQL'
      : null;
    if (!system.api) {
      log(`Patternwire ${command} running${db ? ` (database: ${db})` : ''}`);
      return;
    }
    log(
      `Patternwire ${command}: GraphiQL at ${system.api.url}/graphql, dashboard at ${system.api.url}/${db ? ` (database: ${db})` : ''}`,
    );
    if (config.auth.mode === 'off') {
      logger.warn('AUTH_MODE=off: every request is an anonymous ADMIN. Use this on a trusted network only.');
    } else if (command === 'all' && system.database) {
      // npm start: one command for a newcomer, so the printed URLs open GraphiQL and the
      // dashboard signed in.
      const token = await ensureAdminToken(system.database.db, config.dataDir);
      // Straight to stdout, not through the logger: the logger redacts every credential (and
      // LOG_LEVEL may hide info), but these lines exist to hand the operator this one (contract §5).
      if (token) {
        console.log(`GraphiQL: ${system.api.url}/graphql#token=${token}`);
        console.log(`Dashboard: ${system.api.url}/#token=${token}`);
      } else log('Sign in with a token: `patternwire tokens create <user>` makes one.');
    }
  } catch (err) {
    await lifecycle.close(config.shutdownTimeoutMs).catch(() => undefined);
    throw err;
  }
}

async function migrate(config: Config): Promise<void> {
  const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await database.migrate();
    console.log(`Migrations applied (${database.kind === 'pglite' ? `PGlite in ${config.dataDir}/pglite` : 'PostgreSQL'}).`);
  } finally {
    await database.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig();
  if (command === 'migrate') {
    await migrate(config);
    return 0;
  }
  if (command === 'demo') return runDemo(config, argv.slice(1));
  if (command === 'users' || command === 'tokens') return runAdminCommand(config, command, argv.slice(1));
  if (!(command in ROLES)) {
    console.error(`unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  await serve(command, config);
  return -1; // keeps running until a signal
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: Error) => {
    if (
      err instanceof ConfigError ||
      err instanceof RedisUnavailableError ||
      err instanceof UsageError ||
      err instanceof DatabaseInUseError
    ) {
      console.error(err.message);
    } else console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
