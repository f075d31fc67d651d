import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/env.js';
import { createDatabase } from '../db/client.js';
import { createUser, findUserByName, insertToken, revokeToken } from '../db/identity.js';
import { generateToken } from '../domain/credentials.js';
import { ADMIN_TOKEN_FILE } from '../auth/first-start.js';

export interface DemoCredential {
  token: string | null;
  /** Where it came from, for the demo's first line. */
  source: string;
  /** Revokes a token made for this run. */
  release(): Promise<void>;
}

/**
 * The credential `npm run demo` signs in with (contract §5: the demo makes its own token):
 * `PATTERNWIRE_TOKEN` if set; else, on PostgreSQL, a token of user `demo` (a READER, created if
 * new) made for this run and revoked at its end; else the token `npm start` wrote to
 * DATA_DIR/admin-token (the embedded database is that process's alone). None with AUTH_MODE=off.
 */
export async function demoCredential(config: Config): Promise<DemoCredential> {
  const none = () => Promise.resolve();
  if (config.auth.mode === 'off') return { token: null, source: 'none (AUTH_MODE=off)', release: none };
  const given = process.env['PATTERNWIRE_TOKEN'];
  if (given) return { token: given, source: 'PATTERNWIRE_TOKEN', release: none };
  if (config.databaseUrl) {
    const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 });
    try {
      const user =
        (await findUserByName(database.db, 'demo')) ??
        (await createUser(database.db, 'demo', 'READER')) ??
        (await findUserByName(database.db, 'demo'))!;
      const { token, hash } = generateToken();
      const row = await insertToken(database.db, {
        userId: user.id,
        name: 'npm run demo',
        hash,
        expiresAt: new Date(Date.now() + 3_600_000),
      });
      return {
        token,
        source: 'a token of user demo, made for this run',
        release: async () => {
          const db = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 });
          await revokeToken(db.db, row.id).finally(() => db.close());
        },
      };
    } finally {
      await database.close();
    }
  }
  const file = path.join(config.dataDir, ADMIN_TOKEN_FILE);
  const saved = await readFile(file, 'utf8').then(
    (t) => t.trim(),
    () => null,
  );
  return { token: saved, source: saved ? file : `none: no ${file} (start the system with npm start first)`, release: none };
}
