import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DrizzleDb } from '../db/client.js';
import { countUsers, createUser, findLiveToken, findUserByName, insertToken } from '../db/identity.js';
import { generateToken, hashToken, looksLikeToken } from '../domain/credentials.js';

export const ADMIN_TOKEN_FILE = 'admin-token';

/**
 * `npm start`'s first run (contract §5): on an empty database, user `admin` (ADMIN) and a token,
 * written to DATA_DIR/admin-token (mode 0600) so later starts can print a signed-in URL again.
 * On every start: the token in that file if it is still live, else a new token for `admin`
 * (re-created as ADMIN if it was deleted only when there are no users at all). Null when the
 * database has users but no `admin` to sign in as: then nobody is signed in automatically.
 */
export async function ensureAdminToken(db: DrizzleDb, dataDir: string): Promise<string | null> {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  const saved = await readFile(file, 'utf8').then(
    (text) => text.trim(),
    () => null,
  );
  if (saved && looksLikeToken(saved)) {
    const live = await findLiveToken(db, hashToken(saved));
    if (live?.user.name === 'admin') return saved;
  }
  const admin =
    (await findUserByName(db, 'admin')) ?? ((await countUsers(db)) === 0 ? await createUser(db, 'admin', 'ADMIN') : null);
  if (!admin) return null;
  const { token, hash } = generateToken();
  await insertToken(db, { userId: admin.id, name: 'npm start', hash, expiresAt: null });
  await writeSecret(file, `${token}\n`);
  return token;
}

/**
 * Writes `text` to `file`, readable by its owner only from the first byte: a new file created
 * with mode 0600 and renamed over the old one (writeFile's mode applies only to a file it
 * creates, so writing in place would leave an old, wider mode until a chmod). DATA_DIR need not
 * exist yet: with DATABASE_URL nothing else creates it.
 */
async function writeSecret(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await rm(temp, { force: true }); // left by a crash of an earlier process with this pid
  try {
    await writeFile(temp, text, { mode: 0o600, flag: 'wx' });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
