import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, LOG_MESSAGE_MAX_BYTES, processSink, type CleanFields } from '../../src/lib/logger.js';

const TOKEN = `pw_${'A'.repeat(43)}`;
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl';

function capture() {
  const lines: { level: string; message: string; fields: CleanFields }[] = [];
  const logger = createLogger('debug', (level, message, fields) => lines.push({ level, message, fields }));
  return { lines, logger };
}

/** A stream that keeps what pino writes to it. */
function memoryStream() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

describe('log fields', () => {
  it('binds fields with child, lets a call add its own, and leaves out undefined ones', () => {
    const { lines, logger } = capture();
    const worker = logger.child({ role: 'worker' });
    worker.warn('job failed', { jobId: '17', queue: 'detections', userId: undefined });
    worker.child({ channel: 'tickstock.events.patterns' }).info('took over entries', { role: 'ingest' });
    expect(lines).toEqual([
      { level: 'warn', message: 'job failed', fields: { role: 'worker', jobId: '17', queue: 'detections' } },
      { level: 'info', message: 'took over entries', fields: { role: 'ingest', channel: 'tickstock.events.patterns' } },
    ]);
  });

  it('redacts credentials in field values and fields named for a secret, and cuts long values', () => {
    const { lines, logger } = capture();
    logger.error('request failed', {
      path: `/graphql?token=${TOKEN}`,
      header: `Bearer ${JWT}`,
      authorization: 'Basic dXNlcjpwYXNzd29yZA==',
      sessionCookie: 'pw_session=abc',
      password: 'hunter2',
      tokenId: 42,
      body: 'x'.repeat(5_000),
      err: new Error(`boom with ${TOKEN}`),
      nested: { token: TOKEN },
    });
    const f = lines[0]!.fields;
    expect(f['path']).toBe('/graphql?token=pw_[redacted]');
    expect(f['header']).toBe('Bearer [redacted JWT]');
    expect(f['authorization']).toBe('[redacted]');
    expect(f['sessionCookie']).toBe('[redacted]');
    expect(f['password']).toBe('[redacted]');
    // An id is not a secret, even when its name says "token".
    expect(f['tokenId']).toBe(42);
    expect(Buffer.byteLength(f['body'] as string)).toBeLessThanOrEqual(LOG_MESSAGE_MAX_BYTES);
    expect(f['body']).toMatch(/ … \[cut: 5000 bytes\]$/);
    expect(f['err']).toMatch(/^Error: boom with pw_\[redacted\]\n/);
    expect(f['nested']).toBe('{"token":"pw_[redacted]"}');
    expect(JSON.stringify(lines)).not.toContain(TOKEN);
  });

  it('redacts the user and password of a URL, in messages and fields, and keeps its host', () => {
    const { lines, logger } = capture();
    logger.warn('SMTP failed at smtp://mailer:s3cr3t@mail.example:587 (refused)', {
      target: 'https://hook:pa55@hooks.example/in?x=1',
      url: 'postgres://127.0.0.1:5432/test',
    });
    expect(lines[0]!.message).toBe('SMTP failed at smtp://[redacted]@mail.example:587 (refused)');
    expect(lines[0]!.fields).toEqual({
      target: 'https://[redacted]@hooks.example/in?x=1',
      url: 'postgres://127.0.0.1:5432/test',
    });
  });

  it('redacts a webhook signing secret, in messages and fields', () => {
    const { lines, logger } = capture();
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    logger.error(`could not sign with ${secret}`, { rule: `secret=${secret}` });
    expect(lines[0]!.message).toBe('could not sign with whsec_[redacted]');
    expect(lines[0]!.fields).toEqual({ rule: 'secret=whsec_[redacted]' });
  });

  it('never lets a field overwrite a key of the line itself', () => {
    const { lines, logger } = capture();
    logger.info('m', { level: 'error', msg: 'other', time: 1, pid: 2, hostname: 'x' });
    expect(lines[0]!.fields).toEqual({ level_: 'error', msg_: 'other', time_: 1, pid_: 2, hostname_: 'x' });
  });

  it('drops lines below the level, fields and all', () => {
    const lines: string[] = [];
    const logger = createLogger('warn', (level, m) => lines.push(`${level}: ${m}`)).child({ role: 'api' });
    logger.debug('no');
    logger.info('no');
    logger.warn('yes');
    logger.error('yes');
    expect(lines).toEqual(['warn: yes', 'error: yes']);
  });
});

describe('the process sink', () => {
  it('writes one JSON object per line: level, time, msg, pid, hostname, role and the ids', () => {
    const out = memoryStream();
    const logger = createLogger('debug', processSink('json', out.stream)).child({ role: 'worker' });
    logger.info('stored', { jobId: '9', detectionId: 1042, channel: 'c', userId: 7 });
    logger.error(`bad ${TOKEN}`, { eventId: 'evt-1' });
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      pid: process.pid,
      hostname: expect.any(String),
      role: 'worker',
      jobId: '9',
      detectionId: 1042,
      channel: 'c',
      userId: 7,
      msg: 'stored',
    });
    expect(second).toMatchObject({ level: 'error', role: 'worker', eventId: 'evt-1', msg: 'bad pw_[redacted]' });
  });

  it('writes human-readable lines for LOG_FORMAT=pretty', () => {
    const out = memoryStream();
    const logger = createLogger('debug', processSink('pretty', out.stream)).child({ role: 'api' });
    logger.warn('closing a slow WebSocket client', { userId: 3 });
    const line = out.text().trimEnd();
    expect(line.split('\n')).toHaveLength(1);
    expect(() => JSON.parse(line) as unknown).toThrow();
    expect(line).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] WARN \(\d+\): closing a slow WebSocket client /);
    expect(line).toContain('"role":"api"');
    expect(line).toContain('"userId":3');
  });
});
