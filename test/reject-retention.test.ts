import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { storeRejections } from '../src/db/rejections.js';
import type { RejectedMessage } from '../src/schema/events.js';
import { createDisposers, createTestEnv, REDIS_URL } from './utils/env.js';
import { eventually, gql } from './utils/graphql.js';
import { startTestSystem, type TestSystem } from './utils/system.js';

/**
 * Contract §1: rejected rows are kept REJECT_RETENTION_DAYS and at most REJECT_MAX_ROWS, the
 * oldest going first, and the count of rejects keeps counting what was deleted.
 */
const disposers = createDisposers();
afterAll(() => disposers.run());

async function setUp(label: string, overrides: Record<string, string> = {}) {
  const t = await createTestEnv(disposers, label, overrides);
  const system = await startTestSystem(disposers, t.config, { api: true, ingest: true, worker: true, migrate: true });
  const pool = new pg.Pool({ connectionString: t.config.databaseUrl, max: 1 });
  disposers.add(() => pool.end());
  const publisher = new Redis(REDIS_URL);
  disposers.add(() => void publisher.disconnect());
  const payloads = async () =>
    (await pool.query<{ payload: Buffer }>('select payload from rejected_events order by id')).rows.map((r) =>
      r.payload.toString(),
    );
  const garbage = (label: string) => publisher.publish(t.config.channels.patterns, `garbage ${t.id} ${label}`);
  return { t, system, pool, payloads, garbage };
}

async function rejectedTotal(system: TestSystem): Promise<number> {
  const { body } = await gql<{ systemHealth: { pipeline: { rejectedTotal: number } } }>(
    system.httpUrl,
    '{ systemHealth { pipeline { rejectedTotal } } }',
  );
  return body.data!.systemHealth.pipeline.rejectedTotal;
}

describe('reject retention', () => {
  it('keeps at most REJECT_MAX_ROWS, the oldest going first, while rejectedTotal keeps counting', async () => {
    const { t, system, payloads, garbage } = await setUp('rejectcap', { REJECT_MAX_ROWS: '5' });
    // One at a time, so the order they are stored in is the order they were sent.
    for (let i = 1; i <= 5; i++) {
      await garbage(`#${i}`);
      await eventually(async () => (await payloads()).length === i, 10_000, `reject ${i} stored`);
    }
    expect(await rejectedTotal(system)).toBe(5);

    // One past the bound: the first one goes.
    await garbage('#6');
    const expected = [2, 3, 4, 5, 6].map((i) => `garbage ${t.id} #${i}`);
    await eventually(
      async () => JSON.stringify(await payloads()) === JSON.stringify(expected),
      10_000,
      'the oldest reject pruned',
    );
    expect(await rejectedTotal(system)).toBe(6);

    // A duplicate of a kept message stores nothing and counts nothing; a new one counts.
    await garbage('#6');
    await garbage('#7');
    await eventually(async () => (await payloads()).at(-1) === `garbage ${t.id} #7`, 10_000, 'reject 7 stored');
    await eventually(async () => (await payloads()).length === 5, 10_000, 'back to 5 rows');
    expect(await payloads()).toEqual([3, 4, 5, 6, 7].map((i) => `garbage ${t.id} #${i}`));
    expect(await rejectedTotal(system)).toBe(7);
  });

  it('deletes rejects received more than REJECT_RETENTION_DAYS ago, and rejectedTotal keeps them', async () => {
    const { t, system, pool, payloads, garbage } = await setUp('rejectage', { REJECT_RETENTION_DAYS: '7' });
    const day = 86_400_000;
    const reject = (label: string, ageMs: number): RejectedMessage => ({
      kind: 'rejected',
      eventId: `${t.id}-${label}`,
      channel: t.config.channels.patterns,
      reason: 'message is not valid JSON',
      payloadBase64: Buffer.from(label).toString('base64'),
      byteLength: label.length,
      receivedAt: new Date(Date.now() - ageMs).toISOString(),
    });
    // Stored as a worker would, one minute either side of the bound.
    const inserted = await storeRejections(system.database!.db, [
      reject('old', 7 * day + 60_000),
      reject('young', 7 * day - 60_000),
    ]);
    expect(inserted).toBe(2);
    expect(await rejectedTotal(system)).toBe(2);

    // The next insert by the worker applies retention.
    await garbage('new');
    await eventually(async () => (await payloads()).includes(`garbage ${t.id} new`), 10_000, 'the new reject stored');
    await eventually(async () => !(await payloads()).includes('old'), 10_000, 'the old reject pruned');
    expect(await payloads()).toEqual(['young', `garbage ${t.id} new`]);
    expect(await rejectedTotal(system)).toBe(3);
    // The age bound is read through an index.
    const plan = await pool.query<{ 'QUERY PLAN': string }>(
      `explain select id from rejected_events where received_at < now() - interval '7 days'`,
    );
    await pool.query('set enable_seqscan = off');
    const forced = await pool.query<{ 'QUERY PLAN': string }>(
      `explain select id from rejected_events where received_at < now() - interval '7 days'`,
    );
    expect([...plan.rows, ...forced.rows].map((r) => r['QUERY PLAN']).join('\n')).toMatch(/rejected_events_received_at_idx/);
  });
});
