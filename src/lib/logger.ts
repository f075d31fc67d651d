/**
 * The process's logger (contract §8): one JSON object per line on stdout (`level`, `time`, `msg`,
 * `pid`, `hostname`, the `role` of the process and the ids a line is about), written by pino; or
 * pino-pretty's human-readable lines when stdout is a terminal or `LOG_FORMAT=pretty`.
 *
 * Every message and every field value passes `cleanLogMessage` on its way (no credential, at most
 * 1 KiB); a field whose name says it holds a secret (`authorization`, `token`, `password`, …) is
 * replaced whole. Tests hand `createLogger` a sink of their own and read what it was given.
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { DestinationStream } from 'pino';

// Required when a process sink is made, not at import: every command line (`users list`, …)
// imports this module, and most never log.
const require = createRequire(import.meta.url);

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * What a line is about, beside its message. The names below are the ones call sites use, so a
 * log search finds every line about one job, detection, channel or user; others may be added.
 */
export interface LogFields {
  /** The process role (`api`, `worker`, `ingest`, `all`), bound once with `child`. */
  role?: string;
  /** A BullMQ job id, and its queue. */
  jobId?: string | null;
  queue?: string | null;
  /** A stored detection's id, or the publisher's `event_id` of a message. */
  detectionId?: number | null;
  eventId?: string | null;
  /** An inbound channel (or stream) name. */
  channel?: string | null;
  userId?: number | null;
  tokenId?: number | null;
  [key: string]: unknown;
}

/** A field value as it reaches a sink: cleaned, and never an object (`undefined` fields are left out). */
export type LogValue = string | number | boolean | null;
export type CleanFields = Readonly<Record<string, LogValue>>;

type LogFn = (message: string, fields?: LogFields) => void;

/** Plain functions, not methods: `logger.warn` may be handed on on its own (no `this`). */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger that adds `bindings` to every line (a call's own fields win). */
  child: (bindings: LogFields) => Logger;
}

export type Sink = (level: Exclude<LogLevel, 'silent'>, message: string, fields: CleanFields) => void;

/** The most a logged message may take (UTF-8 bytes, the cut marker included). */
export const LOG_MESSAGE_MAX_BYTES = 1024;

const B64URL = '[A-Za-z0-9_-]';
/** Patterns of credentials, in the order they are replaced. */
type Replacer = (match: string, key: string, value: string, offset: number, text: string) => string;
const SECRETS: readonly [RegExp, string | Replacer][] = [
  // An API token (`pw_` + 43 base64url characters), or one cut short: 32 characters are already a secret.
  [new RegExp(`pw_${B64URL}{32,}`, 'g'), 'pw_[redacted]'],
  // A webhook signing secret (Standard Webhooks: `whsec_` + base64), or one cut short.
  [/whsec_[A-Za-z0-9+/]{16,}={0,2}/g, 'whsec_[redacted]'],
  // A JWT: base64url JSON header (`{"` is `eyJ`), payload and signature (empty for alg none).
  [new RegExp(`eyJ${B64URL}{4,}\\.${B64URL}{4,}\\.${B64URL}*`, 'g'), '[redacted JWT]'],
  // A URL's user and password (`smtp://user:pass@host`, `postgres://app:secret@db`): the host stays.
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*:[^\s/?#@]*@/gi, '$1[redacted]@'],
  // `Bearer <credential>`, whatever the credential (RFC 6750's token68). "Bearer token" is left alone.
  [/\b(Bearer)\s+[A-Za-z0-9._~+/-]{8,}=*/gi, '$1 [redacted]'],
  // An Authorization header's value (`authorization: Basic …`, `"authorization":"…"`), scheme and all.
  [
    /\b(authorization["']?\s*[:=]\s*["']?)([A-Za-z0-9._~+/=-]+(?:[ \t]+[A-Za-z0-9._~+/=-]+)?)/gi,
    // Left alone when short ("authorization: none") or already redacted ("Bearer pw_[redacted]").
    (match, key, value, offset, text) =>
      value.length < 8 || text.startsWith('[redacted', offset + match.length) ? match : `${key}[redacted]`,
  ],
];

/** `text` with every credential-looking substring replaced by a `[redacted]` marker. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRETS) {
    out = typeof replacement === 'string' ? out.replace(pattern, replacement) : out.replace(pattern, replacement);
  }
  return out;
}

/** `text` cut to at most `maxBytes` of UTF-8 (never inside a character), a marker saying how long it was. */
export function cutToBytes(text: string, maxBytes = LOG_MESSAGE_MAX_BYTES): string {
  // At most 3 bytes per UTF-16 unit: short strings need no encoding.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const marker = ` … [cut: ${bytes.length} bytes]`;
  let end = Math.max(0, maxBytes - Buffer.byteLength(marker));
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back to the first byte of a character
  return bytes.subarray(0, end).toString('utf8') + marker;
}

/** What reaches a sink: credentials redacted first (so none survives half-cut), then cut at 1 KiB. */
export function cleanLogMessage(message: string): string {
  return cutToBytes(redactSecrets(message));
}

/** Field names whose value is a secret whatever it looks like. */
const SECRET_FIELD = /authorization|cookie|password|passwd|secret|token$|^token|credential|session/i;
/** Keys of pino's own line; a field of that name would make a second one. */
const RESERVED_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** A field's value as logged: strings cleaned like messages, errors as their stack, objects as cut JSON. */
export function cleanLogValue(key: string, value: unknown): LogValue {
  if (value === null || value === undefined) return null;
  // Ids are safe to keep as numbers (`tokenId`); anything else named like a secret goes whole.
  if (SECRET_FIELD.test(key) && !(typeof value === 'number' && key.endsWith('Id'))) return '[redacted]';
  switch (typeof value) {
    case 'string':
      return cleanLogMessage(value);
    case 'number':
    case 'boolean':
      return value;
    case 'bigint':
    case 'symbol':
      return value.toString();
    case 'function':
      return `[function ${value.name || 'anonymous'}]`;
    default:
      break;
  }
  if (value instanceof Error) return cleanLogMessage(value.stack ?? value.message);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined; // a cycle, a BigInt inside
  }
  return cleanLogMessage(text ?? '[an object JSON cannot represent]');
}

function cleanFields(bindings: CleanFields, fields: LogFields | undefined): CleanFields {
  if (!fields) return bindings;
  const out: Record<string, LogValue> = { ...bindings };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[RESERVED_FIELDS.has(key) ? `${key}_` : key] = cleanLogValue(key, value);
  }
  return out;
}

const NO_FIELDS: CleanFields = Object.freeze({});

/**
 * Lines below `level` are dropped; the sink decides where the rest go (JSON lines on stdout by
 * default, see `processSink`). Every message and field is cleaned on its way: no credential, at
 * most 1 KiB each.
 */
export function createLogger(level: LogLevel, sink?: Sink): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const write: Sink = sink ?? (level === 'silent' ? () => {} : processSink('auto'));
  const build = (bindings: CleanFields): Logger => {
    const at = (l: Exclude<LogLevel, 'silent'>): LogFn =>
      LOG_LEVELS.indexOf(l) >= min ? (m, fields) => write(l, cleanLogMessage(m), cleanFields(bindings, fields)) : () => {};
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) => build(cleanFields(bindings, more)),
    };
  };
  return build(NO_FIELDS);
}

/**
 * pino on stdout (or `destination`): JSON lines, or pino-pretty's lines for `pretty` (and for
 * `auto` when stdout is a terminal). Writes are synchronous, as `console.log` to a pipe or file
 * is on Linux, so the lines before a `process.exit` are not lost; the API logs no line per request
 * or event, so a line's cost is not on a hot path.
 */
export function processSink(format: LogFormat, destination: DestinationStream | NodeJS.WritableStream = process.stdout): Sink {
  const { pino, stdTimeFunctions } = require('pino') as typeof import('pino');
  const isTerminal = destination === process.stdout && process.stdout.isTTY;
  const human = format === 'pretty' || (format === 'auto' && isTerminal);
  const stream: DestinationStream = human
    ? (require('pino-pretty') as typeof import('pino-pretty'))({
        destination: destination === process.stdout ? 1 : destination,
        sync: true,
        colorize: isTerminal,
        translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
        ignore: 'hostname',
        singleLine: true,
      })
    : destination === process.stdout
      ? pino.destination({ dest: 1, sync: true })
      : destination;
  const out = pino(
    {
      // Filtering is the Logger's; pino writes whatever reaches it.
      level: 'debug',
      base: { pid: process.pid, hostname: hostname() },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  return (level, message, fields) => out[level](fields, message);
}

/** Repeats of the same failure (a reconnect loop) are said once per `intervalMs`. */
export function throttled(log: LogFn, intervalMs = 5_000): LogFn {
  let last = 0;
  return (message, fields) => {
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      log(message, fields);
    }
  };
}
