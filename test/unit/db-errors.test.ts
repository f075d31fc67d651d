import { describe, expect, it } from 'vitest';
import { databaseMessage, isDataError, sqlStateOf } from '../../src/db/errors.js';

/** What node-postgres and PGlite throw: an Error with the SQLSTATE in `code`. */
const pgError = (message: string, code: string, detail?: string) => Object.assign(new Error(message), { code, detail });
/** drizzle's wrapper: the statement and its parameters in the message, the driver's error as cause. */
const drizzleError = (cause: unknown) =>
  new Error(`Failed query: INSERT INTO x VALUES ($1)\nparams: ${'p'.repeat(10_000)}`, { cause });

describe('data errors and faults, by SQLSTATE class', () => {
  it.each([
    ['22P05', true, 'untranslatable character (a NUL in jsonb)'],
    ['22021', true, 'invalid byte sequence (a NUL in text)'],
    ['23514', true, 'check violation'],
    ['23502', true, 'not-null violation'],
    ['54000', true, 'program limit exceeded (a value too large to index)'],
    ['40001', false, 'serialisation failure'],
    ['40P01', false, 'deadlock'],
    ['08006', false, 'connection failure'],
    ['57014', false, 'query cancelled (statement timeout)'],
    ['55P03', false, 'lock not available'],
    ['42P01', false, 'undefined table (a migration missing: retry, and say so)'],
  ])('%s is a data error: %s (%s)', (code, data) => {
    expect(isDataError(pgError('x', code))).toBe(data);
    expect(isDataError(drizzleError(pgError('x', code)))).toBe(data);
  });

  it('an error without a SQLSTATE (a dropped socket) is a fault', () => {
    expect(sqlStateOf(new Error('Connection terminated unexpectedly'))).toBeNull();
    expect(isDataError(drizzleError(new Error('Connection terminated unexpectedly')))).toBe(false);
    // A Node system error code is not a SQLSTATE.
    expect(isDataError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
  });

  it('says what the database said, with detail and SQLSTATE, never the statement or its parameters', () => {
    const err = drizzleError(pgError('new row violates check constraint "no_poison"', '23514', 'Failing row contains (…).'));
    expect(databaseMessage(err)).toBe(
      'new row violates check constraint "no_poison" (Failing row contains (…).) [SQLSTATE 23514]',
    );
    expect(databaseMessage(drizzleError(new Error('Connection terminated')))).toBe('Connection terminated');
  });
});
