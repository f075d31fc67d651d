import { chmod, readFile, writeFile } from 'node:fs/promises';
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
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  // writeFile's mode applies only to a new file.
  await chmod(file, 0o600);
  return token;
}
