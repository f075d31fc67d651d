/** The arguments every connection and replay shares, checked once here. */
import { badUserInput } from './errors.js';

/** The most one page may hold. */
export const MAX_PAGE = 500;

export function validFirst(first: unknown, max = MAX_PAGE): number {
  if (typeof first !== 'number' || !Number.isInteger(first) || first < 1 || first > max) {
    throw badUserInput(`first must be an integer from 1 to ${max}, got ${String(first)}`, { argument: 'first' });
  }
  return first;
}

/** A detection id (also a connection cursor): digits, a safe integer. */
export function validId(value: unknown, argument: string): number {
  const s = String(value);
  const n = Number(s);
  if (!/^\d{1,15}$/.test(s) || !Number.isSafeInteger(n)) {
    throw badUserInput(`${argument} must be a detection id (a non-negative integer as a string), got "${s}"`, {
      argument,
    });
  }
  return n;
}
