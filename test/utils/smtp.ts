/**
 * A real SMTP server for the notification tests (smtp-server on port 0, plain text, AUTH
 * required with a user and password), keeping every message, and a small MIME reader: enough
 * to check a message's subject and its text and HTML parts.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { Disposers } from './env.js';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  headers: Map<string, string>;
  subject: string;
  text: string | null;
  html: string | null;
}

export interface SmtpSink {
  /** smtp://user:pass@127.0.0.1:PORT */
  url: string;
  messages: ReceivedMail[];
  /** The next `n` messages to `to` are refused with 451. */
  refuse(to: string, n: number): void;
}

/** Header name (lower case) → value, continuation lines unfolded. */
function parseHeaders(block: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0) out.set(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
  }
  return out;
}

/** RFC 2047 encoded words (=?utf-8?Q?…?= / =?utf-8?B?…?=). */
function decodeWords(value: string): string {
  return value.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=\s*/g, (_, _charset: string, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(
          text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (__, h: string) => String.fromCharCode(parseInt(h, 16))),
          'latin1',
        ).toString('utf8'),
  );
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable':
      return Buffer.from(
        body.replace(/=\r\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
        'latin1',
      ).toString('utf8');
    default:
      return body;
  }
}

/** The text/plain and text/html parts of a message, at any depth of multipart. */
export function parseMail(raw: string): Pick<ReceivedMail, 'headers' | 'subject' | 'text' | 'html'> {
  const parts: { type: string; content: string }[] = [];
  const walk = (entity: string): Map<string, string> => {
    const split = entity.indexOf('\r\n\r\n');
    const headers = parseHeaders(entity.slice(0, split));
    const body = entity.slice(split + 4);
    const type = headers.get('content-type') ?? 'text/plain';
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
    if (type.toLowerCase().startsWith('multipart/') && boundary) {
      const sections = body.split(`--${boundary}`).slice(1);
      for (const s of sections) if (!s.startsWith('--')) walk(s.replace(/^\r\n/, ''));
    } else {
      parts.push({
        type: type.split(';')[0]!.trim().toLowerCase(),
        content: decodeBody(body, headers.get('content-transfer-encoding')),
      });
    }
    return headers;
  };
  const headers = walk(raw);
  return {
    headers,
    subject: decodeWords(headers.get('subject') ?? ''),
    text: parts.find((p) => p.type === 'text/plain')?.content ?? null,
    html: parts.find((p) => p.type === 'text/html')?.content ?? null,
  };
}

export async function startSmtpServer(disposers: Disposers, user = 'notify', pass = 'secret-pass'): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const refusals = new Map<string, number>();
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === pass) callback(null, { user });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        // Refuse the first n messages to a listed recipient, as a server with a full queue does.
        const to = session.envelope.rcptTo[0]?.address ?? '';
        const left = refusals.get(to) ?? 0;
        if (left > 0) {
          refusals.set(to, left - 1);
          const err = Object.assign(new Error('Mailbox busy, try again later'), { responseCode: 451 });
          return callback(err);
        }
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          ...parseMail(raw),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  disposers.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://${user}:${pass}@127.0.0.1:${port}`,
    messages,
    refuse: (to, n) => void refusals.set(to, n),
  };
}
