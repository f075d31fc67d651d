/**
 * Data errors and faults, told apart by SQLSTATE class (never by message text): a data error is
 * the value's fault and fails the same way every time, so it is rejected and never retried; a
 * fault (connection lost, timeout, deadlock, serialisation failure, …) may pass on a retry.
 *
 * Classes treated as data errors: 22 data exception (a value PostgreSQL cannot store or convert),
 * 23 integrity constraint violation (a CHECK, NOT NULL or foreign key the row breaks), and 54
 * program limit exceeded (a value too large to index or store). Everything else, including an
 * error without a SQLSTATE (a dropped socket), is a fault.
 */
const DATA_ERROR_CLASSES = new Set(['22', '23', '54']);

/** The SQLSTATE of a database error, looked for through drizzle's wrapper (`cause`). */
export function sqlStateOf(err: unknown): string | null {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return null;
}

export function isDataError(err: unknown): boolean {
  const state = sqlStateOf(err);
  return state !== null && DATA_ERROR_CLASSES.has(state.slice(0, 2));
}

/**
 * What the database said, in one line and without the query: drizzle's own message carries the
 * whole statement and its parameters (a batch of detections), which no log, job failure or
 * reason should hold. Its `cause` is the driver's error.
 */
export function databaseMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.message.startsWith('Failed query:') && e.cause !== undefined) e = e.cause;
  const message = e instanceof Error ? e.message : String(e);
  const detail = (e as { detail?: unknown } | null)?.detail;
  const state = sqlStateOf(e);
  const text = `${message}${typeof detail === 'string' ? ` (${detail})` : ''}`.replace(/\s+/g, ' ');
  return state ? `${text} [SQLSTATE ${state}]` : text;
}
