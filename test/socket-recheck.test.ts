import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestUser, type TestUser } from './utils/auth.js';
import { createDisposers, createTestEnv, type TestEnv } from './utils/env.js';
import { createWsClient } from './utils/graphql.js';
import { startTestSystem, type TestSystem } from './utils/system.js';
import { waitFor, waitForQuiet } from './utils/wait.js';

/**
 * The periodic credential re-check of open WebSockets (src/api/socket-guard.ts) must judge only
 * the sockets it asked the database about. A socket admitted while a re-check's queries ran used
 * to be missing from their answers and was closed with 4403 as if its user had been deleted —
 * found by the inbox benchmark, where 5 of 101 fresh connections were dropped that way.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

let t: TestEnv;
let system: TestSystem;
let users: TestUser[];

beforeAll(async () => {
  // A re-check every 5 ms, so that many run while the sockets below connect.
  t = await createTestEnv(disposers, 'recheck', { AUTH_MODE: 'required', AUTH_RECHECK_MS: '5' });
  system = await startTestSystem(disposers, t.config, { api: true, migrate: true });
  users = [];
  for (let i = 0; i < 20; i++) users.push(await createTestUser(t.config.databaseUrl!, `recheck-${i}`, 'READER'));
});

describe('credential re-check of open WebSockets', () => {
  it('never closes a socket admitted while a re-check is running', async () => {
    const closes: number[] = [];
    let connected = 0;
    for (let round = 0; round < 10; round++) {
      for (const user of users) {
        createWsClient(disposers, system.wsUrl, {
          connectionParams: { authorization: `Bearer ${user.token}` },
          on: {
            connected: () => void connected++,
            closed: (event) => void closes.push((event as { code: number }).code),
          },
        });
      }
    }
    await waitFor(() => connected + closes.length >= 200, { what: '200 sockets connected or closed', timeoutMs: 30_000 });
    // A wrong close comes when the re-check that overlapped the admission ends; 200 ms of
    // quiet is forty re-checks later.
    await waitForQuiet(() => closes.length, { quietMs: 200 });
    expect(closes).toEqual([]);
    expect(connected).toBe(200);
  });
});
