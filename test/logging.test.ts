/**
 * Contract §8's logs, from real processes: a `worker` (stdout a pipe: JSON lines) and an
 * `ingest` with LOG_FORMAT=pretty. A detection the database refuses (a CHECK constraint, as a
 * DBA might add) makes the worker log a line about a job, a message and a channel; its publisher
 * id carries a token-shaped string, which must not survive into the line, in the message or in
 * the fields.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestUser } from './utils/auth.js';
import { startRole } from './utils/burst.js';
import { createDisposers, createTestEnv, REDIS_URL, type TestEnv } from './utils/env.js';
import { childEnv, type PatternwireProcess } from './utils/processes.js';

const disposers = createDisposers();
afterAll(() => disposers.run());

const SECRET = `pw_${'Q'.repeat(43)}`;
let t: TestEnv;
let worker: PatternwireProcess;
let ingest: PatternwireProcess;

beforeAll(async () => {
  t = await createTestEnv(disposers, 'logs');
  await createTestUser(t.env['DATABASE_URL']!, 'someone', 'READER'); // applies the migrations
  const db = new pg.Client({ connectionString: t.env['DATABASE_URL'] });
  await db.connect();
  await db.query(`ALTER TABLE pattern_detections ADD CONSTRAINT no_refused CHECK (symbol <> 'REFUSED')`);
  await db.end();
  [worker, ingest] = await Promise.all([
    startRole(disposers, 'worker', childEnv(t.env, { LOG_FORMAT: undefined }), 90_000),
    startRole(disposers, 'ingest', childEnv(t.env, { LOG_FORMAT: 'pretty' }), 90_000),
  ]);
}, 180_000);

describe('process logs', () => {
  it('a worker writes one JSON object per line: level, time, msg, role, pid and the ids, credentials redacted', async () => {
    const publisher = new Redis(REDIS_URL);
    disposers.add(() => void publisher.disconnect());
    const eventId = `${t.id}-${SECRET}`;
    await publisher.publish(
      t.config.channels.patterns,
      JSON.stringify({ event_id: eventId, pattern: 'Doji', symbol: 'REFUSED', confidence: 0.5 }),
    );
    const line = await worker.waitForLine(/the database refused message/, 30_000);

    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(entry).toMatchObject({
      level: 'warn',
      role: 'worker',
      pid: worker.child.pid,
      channel: t.config.channels.patterns,
      jobId: expect.stringMatching(/^\d+$/),
      eventId: `${t.id}-pw_[redacted]`,
    });
    expect(entry['time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(entry['msg']).toMatch(
      /^\[worker\] the database refused message \S+-pw_\[redacted\]; stored as rejected: .*no_refused/,
    );
    expect(worker.output()).not.toContain(SECRET.slice(3, 30));

    // Every line it wrote is a JSON object with the same frame.
    const lines = worker.stdout().trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) {
      expect(JSON.parse(l)).toMatchObject({
        role: 'worker',
        pid: worker.child.pid,
        level: expect.any(String),
        msg: expect.any(String),
      });
    }
  });

  it('LOG_FORMAT=pretty writes human-readable lines', () => {
    const lines = ingest.stdout().trimEnd().split('\n');
    const running = lines.find((l) => l.includes('Patternwire ingest running'));
    expect(running).toMatch(
      new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] INFO \\(${ingest.child.pid}\\): `),
    );
    expect(running).toContain('"role":"ingest"');
    for (const l of lines) expect(() => JSON.parse(l) as unknown).toThrow();
  });
});
