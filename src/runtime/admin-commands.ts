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

/** host:port/database of a PostgreSQL URL, without its credentials. */
function whereIs(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'unparsable URL';
  }
}

type Command =
  | { verb: 'users add'; name: string; role: Role }
  | { verb: 'users list' }
  | { verb: 'tokens create'; user: string; label: string; expiresInSeconds: number | null }
  | { verb: 'tokens list'; user: string | null }
  | { verb: 'tokens revoke'; tokenId: number };

/** What each command takes: its positionals (required, then optional) and its options. */
const COMMANDS: Record<Command['verb'], { required: string[]; optional: string[]; options: string[] }> = {
  'users add': { required: ['name'], optional: [], options: ['role'] },
  'users list': { required: [], optional: [], options: [] },
  'tokens create': { required: ['user'], optional: [], options: ['name', 'expires-in'] },
  'tokens list': { required: [], optional: ['user'], options: [] },
  'tokens revoke': { required: ['token id'], optional: [], options: [] },
};

const usage = (problem: string) => new UsageError(`${problem}\n\nusage: patternwire <command>\n${ADMIN_USAGE}`);

/**
 * The command line, checked before any database is opened: a mistake is told at once, with the
 * usage, and never waits on (or is hidden by) a database that is down or held by `npm start`.
 */
export function parseAdminCommand(area: 'users' | 'tokens', argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { role: { type: 'string' }, name: { type: 'string' }, 'expires-in': { type: 'string' } },
    });
  } catch (err) {
    // Node's message ends in advice about `--`, which is no help here.
    throw usage((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const { values, positionals } = parsed;
  const verb = `${area} ${positionals[0] ?? ''}`;
  if (!(verb in COMMANDS)) throw usage(positionals[0] ? `unknown command "${verb}"` : `\`patternwire ${area}\` needs a command`);
  const spec = COMMANDS[verb as Command['verb']];
  const args = positionals.slice(1);
  if (args.length < spec.required.length) throw usage(`\`${verb}\` needs a ${spec.required[args.length]}`);
  const most = spec.required.length + spec.optional.length;
  if (args.length > most) throw usage(`unexpected argument "${args.slice(most).join(' ')}" after \`${verb}\``);
  for (const option of Object.keys(values))
    if (!spec.options.includes(option)) throw usage(`\`${verb}\` has no option --${option}`);

  switch (verb as Command['verb']) {
    case 'users add': {
      const name = args[0]!;
      if (!USER_NAME.test(name)) throw new UsageError(`a user name is ${USER_NAME_RULE}, got "${name}"`);
      return { verb: 'users add', name, role: roleOf(values.role) };
    }
    case 'users list':
      return { verb: 'users list' };
    case 'tokens create': {
      let expiresInSeconds: number | null = null;
      if (values['expires-in'] !== undefined) {
        expiresInSeconds = parseDuration(values['expires-in']);
        if (expiresInSeconds === null)
          throw new UsageError(`--expires-in is a number and a unit (s, m, h, d, w), e.g. 30d; got "${values['expires-in']}"`);
      }
      if (values.name !== undefined && values.name.trim() === '') throw new UsageError('--name must not be empty');
      return { verb: 'tokens create', user: args[0]!, label: values.name ?? 'command line', expiresInSeconds };
    }
    case 'tokens list':
      return { verb: 'tokens list', user: args[0] ?? null };
    case 'tokens revoke': {
      const id = args[0]!;
      if (!/^\d{1,15}$/.test(id)) throw new UsageError(`name the token by its id (see \`tokens list\`), got "${id}"`);
      return { verb: 'tokens revoke', tokenId: Number(id) };
    }
  }
}

/** Runs one admin command; returns the exit code. */
export async function runAdminCommand(config: Config, area: 'users' | 'tokens', argv: string[]): Promise<number> {
  const command = parseAdminCommand(area, argv);
  const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await database.migrate().catch((err: Error) => {
      // The first contact: a server that is not there is the operator's to fix, told in one sentence.
      // A Node socket error (ECONNREFUSED, ENOTFOUND, …) or a SQLSTATE of connection (08), credentials
      // (28), a missing database (3D000), too many connections (53300) or a server shutting down (57P0x).
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const unreachable =
        /^E[A-Z]+$|^08|^28|^3D000$|^53300$|^57P0/.test(code) || /connection timeout|trying to connect/.test(err.message);
      if (config.databaseUrl && unreachable) {
        throw new UsageError(`cannot reach the database at DATABASE_URL (${whereIs(config.databaseUrl)}): ${err.message}`);
      }
      throw err;
    });
    const db = database.db;
    const userNamed = async (name: string) => {
      const user = await findUserByName(db, name);
      if (!user) throw new UsageError(`no user named "${name}"`);
      return user;
    };

    switch (command.verb) {
      case 'users add': {
        const user = await createUser(db, command.name, command.role);
        if (!user) throw new UsageError(`a user named "${command.name}" already exists`);
        out(`created user ${user.name} (${user.role}), id ${user.id}`);
        return 0;
      }
      case 'users list':
        for (const u of await listUsers(db))
          out(`${String(u.id).padStart(5)}  ${u.name.padEnd(20)} ${u.role.padEnd(7)} since ${u.createdAt.toISOString()}`);
        return 0;
      case 'tokens create': {
        const user = await userNamed(command.user);
        const expiresAt = command.expiresInSeconds === null ? null : new Date(Date.now() + command.expiresInSeconds * 1000);
        const { token, hash } = generateToken();
        await insertToken(db, { userId: user.id, name: command.label, hash, expiresAt });
        out(token);
        return 0;
      }
      case 'tokens list': {
        const user = command.user === null ? null : await userNamed(command.user);
        for (const t of await listTokens(db, user?.id ?? null)) out(tokenLine(t));
        return 0;
      }
      case 'tokens revoke': {
        const token = await revokeToken(db, command.tokenId);
        if (!token) throw new UsageError(`no token ${command.tokenId}`);
        out(`revoked token ${token.id} (${token.name}) of ${token.user.name}`);
        return 0;
      }
    }
  } finally {
    await database.close();
  }
}
