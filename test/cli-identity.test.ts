import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeOf, gqlAs } from './utils/auth.js';
import { createDisposers, createTestEnv, type Disposers } from './utils/env.js';
import { childEnv, runPatternwire, spawnPatternwire, type CommandResult, type PatternwireProcess } from './utils/processes.js';
import { freePort } from './utils/resources.js';
import { startTestSystem } from './utils/system.js';

/**
 * Contract §5, "First start" and "Command line", through real processes
 * (`node dist/cli.js …`): the signed-in URL `all` prints and the admin-token file
 * behind it, the users/tokens commands against PostgreSQL and against the PGlite that `all`
 * holds, and AUTH_MODE=off's warning.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

const TOKEN = /^pw_[A-Za-z0-9_-]{43}$/;
/** The first-start line; group 1 is the URL, group 2 the token. */
const SIGNED_IN = /^GraphiQL: (http:\/\/127\.0\.0\.1:\d+\/graphql#token=(pw_[A-Za-z0-9_-]{43}))$/;
/** A Node stack frame: a sentence was expected, not a trace. */
const STACK = /^\s+at .+\(.+:\d+:\d+\)$/m;

async function tempDir(d: Disposers, label: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `pw-${label}-`));
  d.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Started {
  all: PatternwireProcess;
  url: string;
  token: string;
}

/** `patternwire all` until it prints its signed-in GraphiQL URL. */
async function startSignedIn(env: NodeJS.ProcessEnv): Promise<Started> {
  const all = spawnPatternwire(disposers, 'all', env);
  const line = await all.waitForLine(/^GraphiQL: .*#token=/, 60_000);
  const m = SIGNED_IN.exec(line);
  expect(m, `the signed-in URL line: ${line}`).not.toBeNull();
  // The dashboard's line next to it, with the same token (contract §5).
  const dashboard = await all.waitForLine(/^Dashboard: /, 5_000);
  expect(dashboard).toBe(`Dashboard: ${m![1]!.replace(/\/graphql#/, '/#')}`);
  return { all, url: m![1]!, token: m![2]! };
}

async function me(httpUrl: string, token: string | null) {
  return gqlAs<{ me: { name: string; role: string } }>(httpUrl, token, '{ me { name role } }');
}

async function expectAdmin(httpUrl: string, token: string): Promise<void> {
  const r = await me(httpUrl, token);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.data?.me).toEqual({ name: 'admin', role: 'ADMIN' });
}

async function expectUnauthenticated(httpUrl: string, token: string | null): Promise<void> {
  const r = await me(httpUrl, token);
  expect(r.status).toBe(401);
  expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
  expect(codeOf(r)).toBe('UNAUTHENTICATED');
}

async function expectTokenFile(dataDir: string, token: string): Promise<void> {
  const file = path.join(dataDir, 'admin-token');
  expect((await stat(file)).mode & 0o777, 'admin-token mode').toBe(0o600);
  expect((await readFile(file, 'utf8')).trim()).toBe(token);
}

/** A command that failed the way a person can act on: non-zero, a sentence matching `why`, no stack trace, nothing on stdout. */
function expectRefused(r: CommandResult, why: RegExp): void {
  expect(r.code, r.output).not.toBe(0);
  expect(r.output).toMatch(why);
  expect(r.output).not.toMatch(STACK);
  expect(r.stdout).toBe('');
}

function expectOk(r: CommandResult): void {
  expect(r.code, r.output).toBe(0);
}

describe('first start: `all` with AUTH_MODE=required on an empty PGlite', () => {
  it('creates admin and a token, writes DATA_DIR/admin-token 0600, prints the same signed-in URL on every start, a new one when the file is gone', async () => {
    const t = await createTestEnv(disposers, 'clifirst', { AUTH_MODE: 'required' });
    const dataDir = await tempDir(disposers, 'first');
    const port = await freePort();
    const httpUrl = `http://127.0.0.1:${port}`;
    // LOG_LEVEL stays at the test env's `warn`: the signed-in URL must not depend on it.
    const env = childEnv(t.env, { DATABASE_URL: undefined, DATA_DIR: dataDir, PORT: String(port), AUTH_MODE: 'required' });

    const first = await startSignedIn(env);
    expect(first.url).toBe(`${httpUrl}/graphql#token=${first.token}`);
    expect(first.token).toMatch(TOKEN);
    await expectTokenFile(dataDir, first.token);
    await expectAdmin(httpUrl, first.token);
    await expectUnauthenticated(httpUrl, null);
    // The two URLs (GraphiQL's and the dashboard's) are printed once, and the token appears
    // nowhere else in the output.
    expect(first.all.output().split(first.token).length - 1, first.all.output()).toBe(2);
    const stopped = await first.all.signal('SIGTERM');
    expect(stopped.code, first.all.output()).toBe(0);

    // Second start: the same URL, the same token, still working.
    const second = await startSignedIn(env);
    expect(second.url).toBe(first.url);
    await expectTokenFile(dataDir, first.token);
    await expectAdmin(httpUrl, first.token);
    expect((await second.all.signal('SIGTERM')).code, second.all.output()).toBe(0);

    // The file deleted: a new token for admin, written and working.
    await rm(path.join(dataDir, 'admin-token'));
    const third = await startSignedIn(env);
    expect(third.token).not.toBe(first.token);
    expect(third.token).toMatch(TOKEN);
    await expectTokenFile(dataDir, third.token);
    await expectAdmin(httpUrl, third.token);
    expect((await third.all.signal('SIGTERM')).code, third.all.output()).toBe(0);
  }, 180_000);

  it('with DATABASE_URL, creates a DATA_DIR that does not exist yet for the admin-token file', async () => {
    const t = await createTestEnv(disposers, 'clifirstpg', { AUTH_MODE: 'required' });
    const dataDir = path.join(await tempDir(disposers, 'firstpg'), 'not', 'yet');
    const port = await freePort();
    const started = await startSignedIn(childEnv(t.env, { DATA_DIR: dataDir, PORT: String(port) }));
    await expectTokenFile(dataDir, started.token);
    await expectAdmin(`http://127.0.0.1:${port}`, started.token);
    expect((await started.all.signal('SIGTERM')).code, started.all.output()).toBe(0);
    // PostgreSQL held the data: no embedded database was made in DATA_DIR.
    expect(existsSync(path.join(dataDir, 'pglite'))).toBe(false);
  }, 90_000);
});

describe('the command line against PostgreSQL', () => {
  it('users add/list, tokens create/list/revoke: what each prints, what each refuses, and the token against a running API', async () => {
    const t = await createTestEnv(disposers, 'clicmd', { AUTH_MODE: 'required' });
    const env = childEnv(t.env, { DATA_DIR: await tempDir(disposers, 'cmd') });
    const run = (...args: string[]) => runPatternwire(disposers, args, env);

    const alice = await run('users', 'add', 'alice', '--role', 'admin');
    expectOk(alice);
    expect(alice.stdout).toMatch(/^created user alice \(ADMIN\), id \d+\n$/);
    const bob = await run('users', 'add', 'bob');
    expectOk(bob);
    expect(bob.stdout).toMatch(/^created user bob \(READER\), id \d+\n$/);

    // Refusals, independent of each other: run them at once.
    const [duplicate, badName, badRole, noName] = await Promise.all([
      run('users', 'add', 'bob'),
      run('users', 'add', 'Bob!'),
      run('users', 'add', 'carol', '--role', 'root'),
      run('users', 'add'),
    ]);
    expectRefused(duplicate, /a user named "bob" already exists/);
    expectRefused(badName, /a user name is 1 to 64 characters of a-z 0-9 \. _ -, got "Bob!"/);
    expectRefused(badRole, /--role must be reader or admin, got "root"/);
    expectRefused(noName, /`users add` needs a name[\s\S]*usage: patternwire/);

    const list = await run('users', 'list');
    expectOk(list);
    const users = list.stdout.trimEnd().split('\n');
    expect(users).toHaveLength(2);
    expect(users[0]).toMatch(/^\s*\d+ {2}alice\s+ADMIN\s+since \d{4}-/);
    expect(users[1]).toMatch(/^\s*\d+ {2}bob\s+READER\s+since \d{4}-/);

    // tokens create: the token, one line, nothing else on stdout.
    const created = await run('tokens', 'create', 'bob', '--name', 'ci', '--expires-in', '12h');
    expectOk(created);
    expect(created.stdout).toMatch(/^pw_[A-Za-z0-9_-]{43}\n$/);
    const token = created.stdout.trim();

    // The token against an API (in this process) that requires authentication.
    const api = await startTestSystem(disposers, t.config, { api: true });
    const asBob = await me(api.httpUrl, token);
    expect(asBob.status, JSON.stringify(asBob.body)).toBe(200);
    expect(asBob.body.data?.me).toEqual({ name: 'bob', role: 'READER' });

    // tokens list bob: the token by id, name, state and expiry; never the secret.
    const listed = await run('tokens', 'list', 'bob');
    expectOk(listed);
    expect(listed.stdout).not.toContain(token);
    expect(listed.stdout).not.toContain(token.slice(3));
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const m = /^\s*(\d+) {2}bob\s+ci\s+live\s+expires (\S+), last used \S+$/.exec(lines[0]!);
    expect(m, lines[0]).not.toBeNull();
    const tokenId = m![1]!;
    const expiresInMs = Date.parse(m![2]!) - Date.now();
    expect(expiresInMs).toBeGreaterThan(12 * 3_600_000 - 5 * 60_000);
    expect(expiresInMs).toBeLessThanOrEqual(12 * 3_600_000);
    // Without a user: every token, bob's among them.
    const all = await run('tokens', 'list');
    expectOk(all);
    expect(all.stdout).toMatch(new RegExp(`^\\s*${tokenId} {2}bob\\s+ci\\s+live`, 'm'));

    const revoked = await run('tokens', 'revoke', tokenId);
    expectOk(revoked);
    expect(revoked.stdout).toBe(`revoked token ${tokenId} (ci) of bob\n`);
    await expectUnauthenticated(api.httpUrl, token);
    expect((await run('tokens', 'list', 'bob')).stdout).toMatch(
      new RegExp(`^\\s*${tokenId} {2}bob\\s+ci\\s+revoked \\d{4}-`, 'm'),
    );

    const [badDuration, zeroDuration, noUser, misspelt, unknownToken, badId] = await Promise.all([
      run('tokens', 'create', 'bob', '--expires-in', '5x'),
      run('tokens', 'create', 'bob', '--expires-in', '0h'),
      run('tokens', 'create', 'nobody'),
      run('tokens', 'create', 'bob', '--expire-in', '12h'),
      run('tokens', 'revoke', '999999'),
      run('tokens', 'revoke', 'ci'),
    ]);
    expectRefused(badDuration, /--expires-in is a number and a unit \(s, m, h, d, w\), e\.g\. 30d; got "5x"/);
    expectRefused(zeroDuration, /--expires-in is a number and a unit/);
    expectRefused(noUser, /no user named "nobody"/);
    expectRefused(misspelt, /Unknown option '--expire-in'[\s\S]*usage: patternwire/);
    expectRefused(unknownToken, /no token 999999/);
    expectRefused(badId, /name the token by its id/);
    // None of the refused creations made a token.
    expect((await run('tokens', 'list', 'bob')).stdout.trimEnd().split('\n')).toHaveLength(1);

    // A database that is not there: one sentence naming where it looked, without the URL's credentials.
    const down = await runPatternwire(
      disposers,
      ['users', 'list'],
      childEnv(env, { DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${await freePort()}/nothing` }),
    );
    expectRefused(down, /cannot reach the database at DATABASE_URL \(127\.0\.0\.1:\d+\/nothing\): connect ECONNREFUSED/);
    expect(down.output).not.toContain('hunter2');

    const [unknown, unknownVerb, noVerb] = await Promise.all([run('frobnicate'), run('users', 'frobnicate'), run('tokens')]);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toMatch(/unknown command "frobnicate"[\s\S]*usage: patternwire <command>[\s\S]*tokens create <user>/);
    expectRefused(unknownVerb, /unknown command "users frobnicate"[\s\S]*usage: patternwire[\s\S]*users add <name>/);
    expectRefused(noVerb, /`patternwire tokens` needs a command[\s\S]*usage: patternwire/);
  }, 120_000);
});

describe('the command line on the PGlite that `all` holds', () => {
  it('fails fast naming the process, leaves `all` unharmed, and works once `all` has stopped', async () => {
    const t = await createTestEnv(disposers, 'clilock', { AUTH_MODE: 'required' });
    const dataDir = await tempDir(disposers, 'lock');
    const port = await freePort();
    const httpUrl = `http://127.0.0.1:${port}`;
    const env = childEnv(t.env, { DATABASE_URL: undefined, DATA_DIR: dataDir, PORT: String(port) });
    const { all, token } = await startSignedIn(env);
    const pid = all.child.pid!;
    const lockFile = path.join(dataDir, 'pglite.lock');
    expect((await readFile(lockFile, 'utf8')).trim()).toBe(String(pid));

    const started = Date.now();
    const [list, add, tokens] = await Promise.all([
      runPatternwire(disposers, ['users', 'list'], env),
      runPatternwire(disposers, ['users', 'add', 'carol'], env),
      runPatternwire(disposers, ['tokens', 'create', 'admin'], env),
    ]);
    // Fast: the time to start node, not a wait on the database.
    expect(Date.now() - started).toBeLessThan(15_000);
    const inUse = new RegExp(`the embedded database in ${dataDir}/pglite is in use by process ${pid}\\b.*set DATABASE_URL`);
    expectRefused(list, inUse);
    expectRefused(add, inUse);
    expectRefused(tokens, inUse);

    // `all` is unharmed: it still holds the lock and serves with the same token.
    expect((await readFile(lockFile, 'utf8')).trim()).toBe(String(pid));
    await expectAdmin(httpUrl, token);
    expect(all.output()).not.toMatch(/error|corrupt/i);
    expect((await all.signal('SIGTERM')).code, all.output()).toBe(0);
    expect(existsSync(lockFile)).toBe(false);

    // Stopped: the same commands work on PGlite, and the file is released after each.
    const added = await runPatternwire(disposers, ['users', 'add', 'carol'], env);
    expectOk(added);
    const listed = await runPatternwire(disposers, ['users', 'list'], env);
    expectOk(listed);
    expect(listed.stdout).toMatch(/^\s*\d+ {2}admin\s+ADMIN\s+since /m);
    expect(listed.stdout).toMatch(/^\s*\d+ {2}carol\s+READER\s+since /m);
    // On PGlite too, `tokens create` prints the token and nothing else.
    const created = await runPatternwire(disposers, ['tokens', 'create', 'carol'], env);
    expectOk(created);
    expect(created.stdout).toMatch(/^pw_[A-Za-z0-9_-]{43}\n$/);
    expect(existsSync(lockFile)).toBe(false);

    // The first-start token revoked from the command line: the next start makes and prints a new one.
    const adminTokens = await runPatternwire(disposers, ['tokens', 'list', 'admin'], env);
    expectOk(adminTokens);
    const startToken = /^\s*(\d+) {2}admin\s+npm start\s+live /m.exec(adminTokens.stdout);
    expect(startToken, adminTokens.stdout).not.toBeNull();
    expectOk(await runPatternwire(disposers, ['tokens', 'revoke', startToken![1]!], env));
    const again = await startSignedIn(env);
    expect(again.token).not.toBe(token);
    await expectTokenFile(dataDir, again.token);
    await expectAdmin(httpUrl, again.token);
    await expectUnauthenticated(httpUrl, token);
    expect((await again.all.signal('SIGTERM')).code, again.all.output()).toBe(0);
  }, 150_000);
});

describe('AUTH_MODE', () => {
  it('off: one warning line at start-up, and queries are served without a token', async () => {
    const t = await createTestEnv(disposers, 'clioff', { AUTH_MODE: 'off' });
    const port = await freePort();
    const env = childEnv(t.env, { DATABASE_URL: undefined, DATA_DIR: await tempDir(disposers, 'off'), PORT: String(port) });
    const all = spawnPatternwire(disposers, 'all', env);
    const warning = await all.waitForLine(/AUTH_MODE=off/, 60_000);
    expect(warning).toMatch(/trusted network only/);
    const r = await me(`http://127.0.0.1:${port}`, null);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data?.me.role).toBe('ADMIN');
    const exit = await all.signal('SIGTERM');
    expect(exit.code, all.output()).toBe(0);
    const out = all.output();
    expect(out.split('\n').filter((l) => /AUTH_MODE|trusted network/.test(l))).toEqual([warning]);
    // Nobody needs signing in: no token is printed.
    expect(out).not.toMatch(/#token=/);
  }, 90_000);

  // AUTH_MODE=required without a token (401) is checked on the `all` of the first-start test.
});
