import { readFileSync } from 'node:fs';

/** The shared fixtures, read in place (they belong to the contract, not to this repo). */
export const FIXTURES_DIR = new URL('../../../shared/fixtures/inbound/', import.meta.url);

export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, FIXTURES_DIR), 'utf8')) as T;
}

export interface PatternCase {
  name: string;
  message: Record<string, unknown>;
  expect: Record<string, unknown>;
}
export interface RejectCase {
  name: string;
  raw?: string;
  message?: unknown;
  channel?: string;
  reject: string;
}
export interface BacktestFixtures {
  progress: Record<string, unknown>[];
  results: Record<string, unknown>[];
  rejects: RejectCase[];
}
