/**
 * `patternwire users …` and `patternwire tokens …` (contract §5), on DATABASE_URL or the PGlite
 * of DATA_DIR. A token's secret is the only thing `tokens create` writes to stdout, so a script
 * can take it with `$(patternwire tokens create alice)`.
 */
import { parseArgs } from 'node:util';
import type { Config } from '../config/env.js';
import { createDatabase } from '../db/client.js';
import {
  createUser,
  findUserByName,
  insertToken,
  listTokens,
  listUsers,
  revokeToken,
  type TokenWithUser,
} from '../db/identity.js';
import { generateToken, parseDuration, USER_NAME, USER_NAME_RULE } from '../domain/credentials.js';
import type { Role } from '../schema/db.js';

export class UsageError extends Error {}

export const ADMIN_USAGE = `  users add <name> [--role reader|admin]
  users list
  tokens create <user> [--name <label>] [--expires-in <30d|12h|90m|…>]   prints the token, nothing else
  tokens list [<user>]
  tokens revoke <token id>`;

const out = (line: string) => process.stdout.write(`${line}\n`);

function roleOf(value: string | undefined): Role {
  if (value === undefined || value === 'reader') return 'READER';
  if (value === 'admin') return 'ADMIN';
  throw new UsageError(`--role must be reader or admin, got "${value}"`);
}

function tokenLine(t: TokenWithUser): string {
  const state = t.revokedAt
    ? `revoked ${t.revokedAt.toISOString()}`
    : t.expiresAt && t.expiresAt <= new Date()
      ? 'expired'
      : 'live';
  const expires = t.expiresAt ? `expires ${t.expiresAt.toISOString()}` : 'no expiry';
  const used = t.lastUsedAt ? `last used ${t.lastUsedAt.toISOString()}` : 'never used';
  return `${String(t.id).padStart(5)}  ${t.user.name.padEnd(20)} ${t.name.padEnd(24)} ${state.padEnd(8)} ${expires}, ${used}`;
}

/** Runs one admin command; returns the exit code. */
export async function runAdminCommand(config: Config, area: 'users' | 'tokens', argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { role: { type: 'string' }, name: { type: 'string' }, 'expires-in': { type: 'string' } },
  });
  const [verb, arg] = positionals;
  const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await database.migrate();
    const db = database.db;
    const userNamed = async (name: string | undefined) => {
      if (!name) throw new UsageError('name the user');
      const user = await findUserByName(db, name);
      if (!user) throw new UsageError(`no user named "${name}"`);
      return user;
    };

    if (area === 'users' && verb === 'add') {
      if (!arg || !USER_NAME.test(arg)) throw new UsageError(`a user name is ${USER_NAME_RULE}, got "${arg ?? ''}"`);
      const user = await createUser(db, arg, roleOf(values.role));
      if (!user) throw new UsageError(`a user named "${arg}" already exists`);
      out(`created user ${user.name} (${user.role}), id ${user.id}`);
      return 0;
    }
    if (area === 'users' && verb === 'list') {
      for (const u of await listUsers(db))
        out(`${String(u.id).padStart(5)}  ${u.name.padEnd(20)} ${u.role.padEnd(7)} since ${u.createdAt.toISOString()}`);
      return 0;
    }
    if (area === 'tokens' && verb === 'create') {
      const user = await userNamed(arg);
      let expiresAt: Date | null = null;
      if (values['expires-in'] !== undefined) {
        const seconds = parseDuration(values['expires-in']);
        if (seconds === null)
          throw new UsageError(`--expires-in is a number and a unit (s, m, h, d, w), e.g. 30d; got "${values['expires-in']}"`);
        expiresAt = new Date(Date.now() + seconds * 1000);
      }
      const { token, hash } = generateToken();
      await insertToken(db, { userId: user.id, name: values.name ?? 'command line', hash, expiresAt });
      out(token);
      return 0;
    }
    if (area === 'tokens' && verb === 'list') {
      const user = arg ? await userNamed(arg) : null;
      for (const t of await listTokens(db, user?.id ?? null)) out(tokenLine(t));
      return 0;
    }
    if (area === 'tokens' && verb === 'revoke') {
      if (!arg || !/^\d{1,15}$/.test(arg)) throw new UsageError('name the token by its id (see `tokens list`)');
      const token = await revokeToken(db, Number(arg));
      if (!token) throw new UsageError(`no token ${arg}`);
      out(`revoked token ${token.id} (${token.name}) of ${token.user.name}`);
      return 0;
    }
    throw new UsageError(`unknown command "${area} ${verb ?? ''}"`);
  } finally {
    await database.close();
  }
}
