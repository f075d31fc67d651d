/** Numbers at or above this are epoch milliseconds; below, epoch seconds (1e12 s is the year 33658). */
const EPOCH_MS_THRESHOLD = 1e12;

// Outside 1970..9999 a publisher's value is garbage, and toISOString() would leave plain ISO-8601.
const MIN_MS = 0;
const MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/**
 * A finite number, or a string holding one in plain decimal notation.
 * `Number()` alone would accept "", " ", "0x1f" and "Infinity".
 */
export function parseNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (!NUMERIC.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/**
 * Epoch seconds (fractions kept), epoch milliseconds, either as a numeric string, or an
 * ISO-8601 date / date-time. Null when the value is none of these or out of range.
 */
export function parseTimestamp(value: unknown): Date | null {
  const n = parseNumber(value);
  // Rounded to the nearest millisecond, as the ISO path does; Date itself would truncate.
  if (n !== null) return inRange(Math.round(Math.abs(n) >= EPOCH_MS_THRESHOLD ? n : n * 1000));
  return typeof value === 'string' ? parseIso(value.trim()) : null;
}

function parseIso(text: string): Date | null {
  const m = ISO_8601.exec(text);
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', zulu, sign, offH = '0', offM = '0'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  // Date.UTC silently rolls Feb 30 into March and maps years 0..99 to 19xx; refuse both.
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59 || Number(offH) > 23 || Number(offM) > 59) return null;
  // Four digits decide the rounding to milliseconds; Date.UTC carries a 1000 into the next second.
  const millis = Math.round(Number(fraction.padEnd(4, '0').slice(0, 4)) / 10);
  // Python's isoformat() omits the offset for naive datetimes; the publisher means UTC.
  const offsetMinutes = zulu || !sign ? 0 : (sign === '-' ? -1 : 1) * (Number(offH) * 60 + Number(offM));
  return inRange(Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function inRange(ms: number): Date | null {
  return Number.isFinite(ms) && ms >= MIN_MS && ms <= MAX_MS ? new Date(ms) : null;
}
