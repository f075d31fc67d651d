import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql, type SQL } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import type { Logger } from '../lib/logger.js';
import * as schema from '../schema/db.js';

/** The drizzle query builder over the pool (or PGlite). `Database` adds migrations, the write lock, ping and close. */
export type DrizzleDb = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: DrizzleDb;
  /** `postgres` for DATABASE_URL, `pglite` for the embedded store. */
  kind: 'postgres' | 'pglite';
  /** Applies the committed migrations under `drizzle/`; safe to run from several processes at once. */
  migrate(): Promise<void>;
  /**
   * Runs `fn` while holding the one write lock every process shares (a PostgreSQL advisory
   * lock; an in-process mutex for PGlite, which only one process can open). Detections are
   * stored and published inside it, so ids become visible, and are published, in id order.
   */
  withWriteLock<T>(fn: (db: DrizzleDb) => Promise<T>, options?: WriteLockOptions<T>): Promise<T>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface WriteLockOptions<T> {
  /**
   * A data-modifying statement with RETURNING to run as the lock is released, after `fn`
   * succeeded: sent with the unlock in one round trip. It runs before the unlock, but the lock is
   * free a moment before its transaction commits: the next holder must read what it changed with
   * FOR UPDATE, which waits for that commit.
   */
  releaseWith?: (value: T) => SQL | null;
}

/** `drizzle/` at the package root, from both `src/db` (tsx, tests) and `dist/db` (built). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

// Any fixed numbers work; they only have to be the same in every process.
const MIGRATION_LOCK_ID = 0x5057_0001;
const WRITE_LOCK_ID = 0x5057_0002;
const WRITE_LOCK_TIMEOUT = '30s';

export interface DatabaseOptions {
  /** PostgreSQL URL; undefined means PGlite under `dataDir`. */
  url: string | undefined;
  dataDir: string;
  poolSize?: number;
  logger?: Logger;
}

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url ? createPostgres(options.url, options.poolSize ?? 10, options.logger) : createPglite(options.dataDir);
}

function createPostgres(url: string, poolSize: number, logger?: Logger): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // A burst (a thousand clients resubscribing with `after` at once) queues on the pool; on a
    // loaded machine 5 s was too short and turned the wait into internal errors.
    connectionTimeoutMillis: 15_000,
    // Set per connection once, not per write: a writer that cannot get the write lock this long
    // (a holder frozen mid-write) fails and retries.
    options: `-c lock_timeout=${WRITE_LOCK_TIMEOUT}`,
  });
  // drizzle's constructor walks the whole schema: one instance per pooled connection, not per write.
  const lockedDbs = new WeakMap<pg.PoolClient, DrizzleDb>();
  // An idle client that loses its server emits here; without a listener the process would crash.
  pool.on('error', (err) => logger?.warn(`[db] idle client error: ${err.message}`));
  const db = drizzlePg(pool, { schema });
  return {
    db,
    kind: 'postgres',
    async migrate() {
      // One session holds the advisory lock for the whole run, so concurrent `release`
      // phases and test files never apply the same migration twice.
      const client = await pool.connect();
      // A checked-out client has no pool 'error' listener: without one a dropped connection crashes the process.
      const onLost = (err: Error) => logger?.warn(`[db] connection lost during migration: ${err.message}`);
      client.on('error', onLost);
      try {
        await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
        try {
          await migratePg(drizzlePg(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER });
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
        }
      } finally {
        client.off('error', onLost);
        client.release();
      }
    },
    async withWriteLock(fn, options) {
      const client = await pool.connect();
      let failure: Error | undefined;
      // A checked-out client has no pool 'error' listener: without one a connection dropped
      // mid-transaction (database restarted, network cut) is an unhandled 'error' event that
      // crashes the process. The query in flight rejects as well; release(failure) discards it.
      const onLost = (err: Error) => {
        failure ??= err;
      };
      client.on('error', onLost);
      try {
        await client.query('SELECT pg_advisory_lock($1)', [WRITE_LOCK_ID]);
        const unlock = () => client.query('SELECT pg_advisory_unlock($1)', [WRITE_LOCK_ID]);
        let locked = lockedDbs.get(client);
        if (!locked) lockedDbs.set(client, (locked = drizzlePg(client, { schema })));
        const value = await fn(locked).catch(async (err: unknown) => {
          await unlock();
          throw err;
        });
        const step = options?.releaseWith?.(value);
        // Reading the step's rows first makes it run before the unlock (an unread data-modifying
        // CTE runs after the main query).
        if (step)
          await locked.execute(
            sql`WITH step AS (${step}) SELECT pg_advisory_unlock(${WRITE_LOCK_ID}) FROM (SELECT count(*) FROM step) AS done`,
          );
        else await unlock();
        return value;
      } catch (err) {
        failure = err as Error;
        throw err;
      } finally {
        // A client that failed is destroyed, not pooled: its session (and any lock it holds) ends.
        client.off('error', onLost);
        client.release(failure);
      }
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    async close() {
      await pool.end();
    },
  };
}

/** Thrown when another live process has the embedded database open. */
export class DatabaseInUseError extends Error {}

/**
 * PGlite is one process's database and takes no lock of its own: two processes opening one
 * directory would corrupt it. A pid file next to it says who holds it; one left by a process
 * that is gone is taken over.
 */
async function lockPglite(dir: string): Promise<() => Promise<void>> {
  const file = `${dir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await readFile(file, 'utf8').catch(() => ''));
      if (pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DatabaseInUseError(
          `the embedded database in ${dir} is in use by process ${pid} (npm start?): stop it first, or set DATABASE_URL`,
        );
      }
      await rm(file, { force: true });
    }
  }
  throw new DatabaseInUseError(`could not lock the embedded database in ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function createPglite(dataDir: string): Promise<Database> {
  const dir = path.resolve(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const unlock = await lockPglite(dir);
  const client = await PGlite.create(dir).catch(async (err: unknown) => {
    await unlock();
    throw err;
  });
  const db = drizzlePglite(client, { schema });
  let tail: Promise<unknown> = Promise.resolve();
  return {
    db,
    kind: 'pglite',
    async migrate() {
      await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
    },
    withWriteLock(fn, options) {
      const run = tail.then(async () => {
        const value = await fn(db);
        const step = options?.releaseWith?.(value);
        if (step) await db.execute(step);
        return value;
      });
      tail = run.catch(() => undefined);
      return run;
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    async close() {
      await client.close();
      await unlock();
    },
  };
}
