import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase, MIGRATIONS_FOLDER, type Database } from '../src/db/client.js';
import { createDisposers, createTestDatabase } from './utils/env.js';
import { childEnv, spawnPatternwire } from './utils/processes.js';

/**
 * The committed migrations under drizzle/, applied in-process (`createDatabase().migrate()`,
 * what `all` and the tests do) and by the `migrate` command, to PostgreSQL and to PGlite.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

type Row = Record<string, unknown>;

const TABLES = ['backtest_jobs', 'pattern_definitions', 'pattern_detections', 'publisher_health', 'rejected_events'];
const VIEWS = { daily_patterns: 'daily', intraday_patterns: 'intraday' } as const;
const LEGACY_COLUMNS = ['pattern_type', 'detection_timestamp', 'pattern_data'];

async function journalEntries(): Promise<number> {
  const journal = JSON.parse(await readFile(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
    entries: unknown[];
  };
  return journal.entries.length;
}

async function query(database: Database, text: string): Promise<Row[]> {
  // node-postgres and PGlite both answer with `{ rows }`.
  const result = await database.db.execute(sql.raw(text));
  return (result as { rows: Row[] }).rows;
}

/** Tables, views, their columns and view definitions: equal before and after a no-op migrate. */
async function schemaFingerprint(database: Database): Promise<string> {
  const columns = await query(
    database,
    `select table_name, column_name, data_type from information_schema.columns
      where table_schema = 'public' order by table_name, ordinal_position`,
  );
  const views = await query(database, `select viewname, definition from pg_views where schemaname = 'public' order by viewname`);
  const indexes = await query(
    database,
    `select indexname, indexdef from pg_indexes where schemaname = 'public' order by indexname`,
  );
  return JSON.stringify({ columns, views, indexes });
}

async function appliedMigrations(database: Database): Promise<number> {
  const [row] = await query(database, `select count(*)::int as n from drizzle.__drizzle_migrations`);
  return Number(row!['n']);
}

/** Everything the contract's section 4 promises about the relations, plus the views' tier filter. */
async function expectSchema(database: Database, label: string): Promise<void> {
  const tables = await query(
    database,
    `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
  );
  expect(tables.map((r) => r['table_name']).sort()).toEqual(expect.arrayContaining(TABLES));

  const views = await query(database, `select viewname from pg_views where schemaname = 'public'`);
  expect(views.map((r) => r['viewname'])).toEqual(expect.arrayContaining(Object.keys(VIEWS)));

  for (const view of Object.keys(VIEWS)) {
    const cols = (
      await query(
        database,
        `select column_name from information_schema.columns where table_schema = 'public' and table_name = '${view}'`,
      )
    ).map((r) => r['column_name']);
    expect(cols, view).toEqual(expect.arrayContaining([...LEGACY_COLUMNS, 'id', 'symbol', 'confidence', 'tier']));
    // The new names stay behind the legacy ones.
    for (const modern of ['pattern', 'detected_at', 'metadata']) expect(cols, view).not.toContain(modern);
  }

  // One row per tier; each view shows only its own, under the legacy names.
  const prefix = `mig-${label}`;
  await query(
    database,
    `insert into pattern_detections (event_id, symbol, pattern, confidence, tier, priority, detected_at, received_at, source, metadata)
     values ('${prefix}-d', 'AAPL', 'BreakoutBO', 0.95, 'DAILY', 'CRITICAL', now(), now(), 'test', '{"k":"d"}'),
            ('${prefix}-i', 'GOOGL', 'ScalpSignal', 0.85, 'INTRADAY', 'HIGH', now(), now(), 'test', '{"k":"i"}'),
            ('${prefix}-c', 'TSLA', 'ComboPattern', 0.75, 'COMBO', 'MEDIUM', now(), now(), 'test', '{"k":"c"}')`,
  );
  for (const [view, tier] of Object.entries(VIEWS)) {
    const rows = await query(
      database,
      `select v.event_id, v.pattern_type, v.tier, v.pattern_data, v.detection_timestamp = p.detected_at as same_time
         from ${view} v join pattern_detections p using (id) where v.event_id like '${prefix}-%'`,
    );
    expect(rows, view).toEqual([
      {
        event_id: `${prefix}-${tier[0]}`,
        pattern_type: tier === 'daily' ? 'BreakoutBO' : 'ScalpSignal',
        tier,
        pattern_data: { k: tier[0] },
        same_time: true,
      },
    ]);
  }
}

describe('PostgreSQL', () => {
  it('createDatabase().migrate() builds the schema on an empty database; `migrate` again is a no-op', async () => {
    const url = await createTestDatabase(disposers, 'mig');
    const database = await createDatabase({ url, dataDir: os.tmpdir() });
    disposers.add(() => database.close());

    await database.migrate();
    await expectSchema(database, 'pg');
    const migrations = await appliedMigrations(database);
    expect(migrations).toBe(await journalEntries());
    const before = await schemaFingerprint(database);

    // Second run, in-process and then from the CLI: nothing changes, nothing is lost.
    await database.migrate();
    const cli = spawnPatternwire(disposers, 'migrate', childEnv({ DATABASE_URL: url, LOG_LEVEL: 'warn' }));
    const exit = await cli.exit();
    expect(exit.code, cli.output()).toBe(0);
    expect(cli.output()).toMatch(/Migrations applied \(PostgreSQL\)/);
    expect(await appliedMigrations(database)).toBe(migrations);
    expect(await schemaFingerprint(database)).toBe(before);
    expect(await query(database, `select event_id from pattern_detections where event_id like 'mig-pg-%'`)).toHaveLength(3);
  });

  it('two `migrate` processes started at the same moment on an empty database both succeed (advisory lock)', async () => {
    const url = await createTestDatabase(disposers, 'migrace');
    const env = childEnv({ DATABASE_URL: url });
    const a = spawnPatternwire(disposers, 'migrate', env);
    const b = spawnPatternwire(disposers, 'migrate', env);
    const [ea, eb] = await Promise.all([a.exit(), b.exit()]);
    expect(ea.code, a.output()).toBe(0);
    expect(eb.code, b.output()).toBe(0);

    const database = await createDatabase({ url, dataDir: os.tmpdir() });
    disposers.add(() => database.close());
    expect(await appliedMigrations(database)).toBe(await journalEntries());
    await expectSchema(database, 'race');
  });
});

describe('PGlite', () => {
  it('the `migrate` command builds the schema in DATA_DIR/pglite; createDatabase().migrate() again is a no-op', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pw-mig-'));
    disposers.add(() => rm(dataDir, { recursive: true, force: true }));

    const cli = spawnPatternwire(disposers, 'migrate', childEnv({ DATABASE_URL: undefined, DATA_DIR: dataDir }));
    const exit = await cli.exit();
    expect(exit.code, cli.output()).toBe(0);
    expect(cli.output()).toContain(`Migrations applied (PGlite in ${dataDir}/pglite)`);

    const database = await createDatabase({ url: undefined, dataDir });
    let open = true;
    disposers.add(() => (open ? database.close() : undefined));
    expect(database.kind).toBe('pglite');
    expect(await appliedMigrations(database)).toBe(await journalEntries());
    await expectSchema(database, 'lite');
    const before = await schemaFingerprint(database);

    await database.migrate();
    expect(await appliedMigrations(database)).toBe(await journalEntries());
    expect(await schemaFingerprint(database)).toBe(before);
    await database.close();
    open = false;

    // Reopened from disk: the data survived, and migrating the reopened store changes nothing.
    const reopened = await createDatabase({ url: undefined, dataDir });
    disposers.add(() => reopened.close());
    await reopened.migrate();
    expect(await schemaFingerprint(reopened)).toBe(before);
    expect(await query(reopened, `select event_id from pattern_detections where event_id like 'mig-lite-%'`)).toHaveLength(3);
  });
});
