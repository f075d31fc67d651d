/**
 * The one symbol rule (contract §1), used by the ingest, GraphQL filters and REST alike:
 * trimmed and upper-cased, then 1 to 20 characters of `A-Z 0-9 . - / ^ =`.
 */
const SYMBOL = /^[A-Z0-9.\-/^=]{1,20}$/;

/** For error messages: what a symbol may be. */
export const SYMBOL_RULE = '1 to 20 characters of A-Z 0-9 . - / ^ =';

export const normalizeSymbol = (s: string): string => s.trim().toUpperCase();

/** The normalised symbol, or null when it breaks the rule. */
export function parseSymbol(value: string): string | null {
  const symbol = normalizeSymbol(value);
  return SYMBOL.test(symbol) ? symbol : null;
}
