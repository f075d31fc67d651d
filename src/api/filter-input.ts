/**
 * The rules of a `PatternFilter` argument, shared by queries, subscriptions and watchlists.
 */
import type { PatternFilter } from '../domain/pattern-filter.js';
import { parseSymbol, SYMBOL_RULE } from '../domain/symbols.js';
import { badUserInput } from './errors.js';

/**
 * NUL, which PostgreSQL text cannot hold (it failed the query as an internal error), or a lone
 * UTF-16 surrogate, which is not text at all. With `u`, a well-formed pair is one code point,
 * so \p{Cs} matches only a surrogate standing alone.
 */
const notText = (v: string) => v.includes('\u0000') || /\p{Cs}/u.test(v);

export interface FilterRules {
  /** The argument named in errors. */
  argument?: string;
  /** Most symbols (and pattern names) a filter may list: 100 for a query, 500 for a watchlist. */
  maxValues?: number;
}

/** A `PatternFilter` argument checked by the rules every filter shares; BAD_USER_INPUT naming what is wrong. */
export function validFilter(filter: PatternFilter | null | undefined, rules: FilterRules = {}): PatternFilter | null {
  if (!filter) return null;
  const argument = rules.argument ?? 'filter';
  const maxValues = rules.maxValues ?? 100;
  const { minConfidence, symbols, patterns, since, until } = filter;
  if (minConfidence != null && !(minConfidence >= 0 && minConfidence <= 1)) {
    throw badUserInput(`${argument}.minConfidence must be between 0 and 1, got ${minConfidence}`, { argument });
  }
  for (const [name, list] of [
    ['symbols', symbols],
    ['patterns', patterns],
  ] as const) {
    if (list && list.length > maxValues)
      throw badUserInput(`${argument}.${name} may list at most ${maxValues} values, got ${list.length}`, { argument });
    const at = list?.findIndex(notText) ?? -1;
    if (at >= 0) {
      throw badUserInput(
        `${argument}.${name} values must not contain NUL (U+0000) or unpaired surrogates; value ${at + 1} does`,
        {
          argument,
        },
      );
    }
  }
  // The same symbol rule as the ingest and REST:
  // a symbol that could never be stored is a mistake.
  const badSymbol = symbols?.find((s) => parseSymbol(s) === null);
  if (badSymbol !== undefined) {
    throw badUserInput(`${argument}.symbols values must be ${SYMBOL_RULE}, got "${badSymbol}"`, { argument });
  }
  const badPattern = patterns?.find((p) => p.trim().length === 0 || p.length > 100);
  if (badPattern !== undefined) {
    throw badUserInput(`${argument}.patterns values must be 1 to 100 characters, got "${badPattern}"`, { argument });
  }
  if (since && until && since >= until) {
    throw badUserInput(`${argument}.since must be before ${argument}.until`, { argument });
  }
  return filter;
}
