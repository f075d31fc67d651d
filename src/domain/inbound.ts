import { createHash } from 'node:crypto';
import {
  MAX_MESSAGE_BYTES,
  type BacktestProgressEvent,
  type BacktestResultEvent,
  type ChannelKind,
  type HealthEvent,
  type Json,
  type JsonObject,
  type ParseResult,
  type PatternEvent,
} from '../schema/events.js';
import { parseSymbol, SYMBOL_RULE } from './symbols.js';
import { parseNumber, parseTimestamp } from './timestamps.js';

/**
 * JSON.parse copes with any depth, but JSON.stringify and structuredClone (job data, the
 * database driver) overflow the stack on a 64 KiB run of brackets; refuse it up front.
 */
const MAX_DEPTH = 64;
const MAX_NAME_LENGTH = 100;
const MAX_ID_LENGTH = 200;
const NAME_KEYS = ['pattern', 'pattern_name', 'pattern_type'] as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const JSON_START = /^[\s]*[{["\-0-9tfn]/;

interface Received {
  raw: Buffer;
  receivedAt: Date;
}

/** Normalises one message of one channel (contract §1), or says in plain words why it is rejected. */
export function parseInbound(kind: ChannelKind, raw: Buffer, receivedAt: Date): ParseResult {
  if (raw.byteLength > MAX_MESSAGE_BYTES) {
    return reject(`message is ${raw.byteLength} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit`);
  }
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return reject('message is not valid UTF-8, so not JSON');
  }
  // A JSON value starts with one of these: anything else is refused without JSON.parse, whose
  // SyntaxError (with its stack) costs five times a successful parse in a flood of garbage.
  if (!JSON_START.test(text)) return reject('message is not valid JSON');
  let message: Json;
  try {
    message = JSON.parse(text) as Json;
  } catch {
    return reject('message is not valid JSON');
  }
  if (!isObject(message)) return reject(`message must be a JSON object, got ${typeName(message)}`);
  const unstorable = unstorableValue(message);
  if (unstorable) return reject(unstorable);

  // Flat kinds carry their publisher id at the top; a detection's is checked on its innermost object.
  const unsafeId = kind === 'pattern' ? null : unsafeIdIn(message);
  if (unsafeId) return reject(unsafeId);

  const received = { raw, receivedAt };
  switch (kind) {
    case 'pattern':
      return parsePattern(message, received);
    case 'backtestProgress':
      return parseBacktestProgress(message, received);
    case 'backtestResult':
      return parseBacktestResult(message, received);
    case 'health':
      return parseHealth(message, received);
  }
}

// ---- field conversions: each returns the value or a Problem worded to follow the field name

class Problem {
  constructor(readonly text: string) {}
}

type Convert<T> = (value: unknown) => T | Problem;

type Shape = Record<string, Convert<unknown>>;
type Fields<S extends Shape> = { [K in keyof S]: Exclude<ReturnType<S[K]>, Problem> };

/**
 * The converters of `shape`, in order, over the values `valueOf` gives; the first problem is the
 * reason, named by the field the publisher sent (`names` maps a key to that name). The
 * converters are the schema: zod here cost 11 µs per rejected detection (its issue machinery),
 * more than parsing the message, when 50,000 garbage messages arrive at once.
 */
function parseFields<S extends Shape>(
  shape: S,
  valueOf: (key: keyof S & string) => unknown,
  names: Partial<Record<keyof S, string>> = {},
): { ok: true; fields: Fields<S> } | { ok: false; reason: string } {
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(shape)) {
    const out = shape[key]!(valueOf(key));
    if (out instanceof Problem) return { ok: false, reason: `${names[key] ?? key} ${out.text}` };
    fields[key] = out;
  }
  return { ok: true, fields: fields as Fields<S> };
}

// The publisher writes Python's None for "not given", so null counts as absent throughout.
function absent(value: unknown): value is null | undefined {
  return value === null || value === undefined;
}

function required<T>(convert: Convert<T>): Convert<T> {
  return (value) => (absent(value) ? new Problem('is required') : convert(value));
}

function optional<T>(convert: Convert<T>): Convert<T | null> {
  return (value) => (absent(value) ? null : convert(value));
}

const toText: Convert<string | null> = (value) =>
  typeof value === 'string' ? value.trim() || null : new Problem(`must be a string, got ${show(value)}`);

const toStatus: Convert<string> = (value) => {
  const text = toText(value);
  return text === null ? new Problem('must not be blank') : text;
};

const toFraction: Convert<number> = (value) => {
  const n = parseNumber(value);
  return n !== null && n >= 0 && n <= 1 ? n : new Problem(`must be a number between 0 and 1, got ${show(value)}`);
};

const toCount: Convert<number> = (value) => {
  const n = parseNumber(value);
  return n !== null && Number.isInteger(n) && n >= 0 ? n : new Problem(`must be a non-negative integer, got ${show(value)}`);
};

const toSeconds: Convert<number> = (value) => {
  const n = parseNumber(value);
  return n !== null && n >= 0 ? n : new Problem(`must be a non-negative number, got ${show(value)}`);
};

const toTimestamp: Convert<string> = (value) =>
  parseTimestamp(value)?.toISOString() ??
  new Problem(`${show(value)} is not epoch seconds, epoch milliseconds or an ISO-8601 date`);

const toObject: Convert<JsonObject> = (value) =>
  isObject(value) ? value : new Problem(`must be an object, got ${typeName(value)}`);

const toId: Convert<string> = (value) =>
  unsafeInteger(value) ??
  publisherId(value) ??
  new Problem(`must be a string of 1 to ${MAX_ID_LENGTH} characters or a number, got ${show(value)}`);

/** Above 2^53 (or with a fraction) a numeric id is rounded by JSON.parse, and two ids would collide. */
function unsafeInteger(value: unknown): Problem | null {
  return typeof value === 'number' && !Number.isSafeInteger(value)
    ? new Problem(`must be a safe integer (at most 2^53 - 1) when a number, got ${show(value)}`)
    : null;
}

const ID_KEYS = ['event_id', 'id'] as const;

/** Any numeric publisher id on `level` that could collide, as a reason. */
function unsafeIdIn(level: JsonObject): string | null {
  for (const key of ID_KEYS) {
    const problem = unsafeInteger(get(level, key));
    if (problem) return `${key} ${problem.text}`;
  }
  return null;
}

const toSymbol: Convert<string> = (value) => {
  if (typeof value !== 'string') return new Problem(`must be a string, got ${show(value)}`);
  return parseSymbol(value) ?? new Problem(`must be ${SYMBOL_RULE}, got ${show(value)}`);
};

const toPatternName: Convert<string> = (value) => {
  const name = typeof value === 'string' ? value.trim() : '';
  if (name === '') return new Problem(`must be a non-empty string, got ${show(value)}`);
  return name.length <= MAX_NAME_LENGTH
    ? name
    : new Problem(`must be at most ${MAX_NAME_LENGTH} characters, got ${name.length} characters`);
};

function publisherId(value: unknown): string | null {
  const id = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : null;
  return id !== null && id.trim() !== '' && id.length <= MAX_ID_LENGTH ? id : null;
}

// ---- pattern detections

const patternColumns = {
  symbol: required(toSymbol),
  pattern: required(toPatternName),
  confidence: required(toFraction),
  detectedAt: optional(toTimestamp),
  expiresAt: optional(toTimestamp),
};

function parsePattern(message: JsonObject, { raw, receivedAt }: Received): ParseResult {
  const levels = nesting(message);
  const depth = levels.findLastIndex((level) => !absent(get(level, 'symbol')));
  const record = levels[depth];
  if (!record) return reject('symbol is required');
  const enclosing = levels.slice(0, depth);
  const unsafeId = unsafeIdIn(record);
  if (unsafeId) return reject(unsafeId);

  const nameKey = NAME_KEYS.find((key) => !absent(get(record, key))) ?? 'pattern';
  const timeKey = (['detection_timestamp', 'timestamp'] as const).find((key) => !absent(get(record, key)));
  const timeSource = timeKey ? record : enclosing.findLast((level) => !absent(get(level, 'timestamp')));
  const sources = {
    symbol: () => get(record, 'symbol'),
    pattern: () => get(record, nameKey),
    confidence: () => get(record, 'confidence'),
    detectedAt: () => timeSource && get(timeSource, timeKey ?? 'timestamp'),
    expiresAt: () => get(record, 'expires_at'),
  };
  const columns = parseFields(patternColumns, (key) => sources[key](), {
    pattern: nameKey,
    detectedAt: timeKey ?? 'timestamp',
    expiresAt: 'expires_at',
  });
  if (!columns.ok) return reject(columns.reason);
  const { symbol, pattern, confidence, detectedAt, expiresAt } = columns.fields;

  // Keys whose value became a column; everything else in the record goes to metadata.
  const used = new Set<string>(['symbol', nameKey, 'confidence', 'metadata']);
  if (timeKey) used.add(timeKey);
  if (expiresAt !== null) used.add('expires_at');
  // Optional columns are lenient: a value of the wrong type is not an error, it stays in metadata.
  const take = <T>(keys: readonly string[], convert: (value: Json) => T | null): T | null => {
    for (const key of keys) {
      const value = get(record, key);
      const out = value === undefined ? null : convert(value);
      if (out !== null) {
        used.add(key);
        return out;
      }
    }
    return null;
  };
  const timeframe = take(['timeframe', 'interval'], nonBlank);
  const category = take(['category'], nonBlank);
  const price = take(['price_at_detection', 'current_price'], parseNumber);
  // Tier rule 1: the innermost `tier`, else the nearest wrapper's (the real publisher puts it on `data`).
  const tierHint = take(['tier'], nonBlankAsSent) ?? nearestWrapperTier(enclosing);
  const eventId = take(ID_KEYS, publisherId) ?? sha256(raw);
  // The outermost `source` names the publisher. The record's own one is also read for a tier word
  // (rule 1b), and stays in metadata unless it is the publisher's name, as in a flat message.
  const sourceHint = nonBlankAsSent(get(record, 'source'));
  const publisher = [...enclosing, record].find((level) => nonBlank(get(level, 'source')) !== null);
  if (publisher === record) used.add('source');

  const event: PatternEvent = {
    kind: 'pattern',
    eventId,
    symbol,
    pattern,
    confidence,
    tierHint,
    sourceHint,
    timeframe,
    category,
    price,
    detectedAt: detectedAt ?? receivedAt.toISOString(),
    receivedAt: receivedAt.toISOString(),
    expiresAt,
    source: (publisher && nonBlank(get(publisher, 'source'))) ?? 'unknown',
    metadata: metadataOf(record, enclosing, used),
  };
  return { ok: true, event };
}

/** The `tier` of the wrapper nearest the record that has one (wrappers stay in metadata.envelope). */
function nearestWrapperTier(enclosing: JsonObject[]): string | null {
  for (let i = enclosing.length - 1; i >= 0; i--) {
    const tier = nonBlankAsSent(get(enclosing[i]!, 'tier'));
    if (tier !== null) return tier;
  }
  return null;
}

/** The message, then `data`, then `data.data`, as far as each is an object. */
function nesting(message: JsonObject): JsonObject[] {
  const levels = [message];
  for (let level = message, i = 0; i < 2; i++) {
    const inner = get(level, 'data');
    if (!isObject(inner)) break;
    levels.push(inner);
    level = inner;
  }
  return levels;
}

/**
 * Lossless: the record's own metadata, then its unmapped fields (a key already in metadata
 * wins), then the enclosing levels' fields under `envelope` (inner levels override outer ones).
 */
function metadataOf(record: JsonObject, enclosing: JsonObject[], used: ReadonlySet<string>): JsonObject {
  const own = get(record, 'metadata');
  const metadata: JsonObject = isObject(own) ? { ...own } : own === undefined ? {} : { metadata: own };
  for (const [key, value] of Object.entries(record)) {
    if (!used.has(key) && !Object.hasOwn(metadata, key)) define(metadata, key, value);
  }
  if (enclosing.length > 0) {
    const fields = enclosing.flatMap((level) => Object.entries(level).filter(([key]) => key !== 'data'));
    define(metadata, 'envelope', Object.fromEntries(fields));
  }
  return metadata;
}

// ---- backtests and health: flat objects

const backtestProgressMessage = {
  job_id: required(toId),
  progress: required(toFraction),
  status: optional(toText),
  current_symbol: optional(toText),
  processed_symbols: optional(toCount),
  estimated_completion: optional(toTimestamp),
  timestamp: optional(toTimestamp),
};

function parseBacktestProgress(message: JsonObject, { raw, receivedAt }: Received): ParseResult {
  const parsed = parseFields(backtestProgressMessage, (key) => get(message, key));
  if (!parsed.ok) return reject(parsed.reason);
  const m = parsed.fields;
  const event: BacktestProgressEvent = {
    kind: 'backtestProgress',
    eventId: eventIdOf(message, raw),
    jobId: m.job_id,
    progress: m.progress,
    status: m.status ?? 'running',
    currentSymbol: m.current_symbol,
    processedSymbols: m.processed_symbols,
    estimatedCompletion: m.estimated_completion,
    at: m.timestamp ?? receivedAt.toISOString(),
    receivedAt: receivedAt.toISOString(),
  };
  return { ok: true, event };
}

const backtestResultMessage = {
  job_id: required(toId),
  status: optional(toText),
  results: optional(toObject),
  processing_time_seconds: optional(toSeconds),
  at: optional(toTimestamp),
};

function parseBacktestResult(message: JsonObject, { raw, receivedAt }: Received): ParseResult {
  // `timestamp`, else `completed_at` (the real publisher's mock sends only that); as for a
  // detection's time, the first one present decides, and an invalid one is not skipped.
  const timeKey = (['timestamp', 'completed_at'] as const).find((key) => !absent(get(message, key))) ?? 'timestamp';
  const parsed = parseFields(backtestResultMessage, (key) => get(message, key === 'at' ? timeKey : key), { at: timeKey });
  if (!parsed.ok) return reject(parsed.reason);
  const m = parsed.fields;
  const event: BacktestResultEvent = {
    kind: 'backtestResult',
    eventId: eventIdOf(message, raw),
    jobId: m.job_id,
    status: m.status ?? 'completed',
    results: m.results,
    processingTimeSeconds: m.processing_time_seconds,
    at: m.at ?? receivedAt.toISOString(),
    receivedAt: receivedAt.toISOString(),
  };
  return { ok: true, event };
}

// Required: the replaced system's probes send `{"test":"health_check"}` on every channel, and a
// defaulted status would overwrite the last real report.
const healthMessage = {
  status: required(toStatus),
  metrics: optional(toObject),
  source: optional(toText),
  timestamp: optional(toTimestamp),
};

function parseHealth(message: JsonObject, { raw, receivedAt }: Received): ParseResult {
  const parsed = parseFields(healthMessage, (key) => get(message, key));
  if (!parsed.ok) return reject(parsed.reason);
  const m = parsed.fields;
  const event: HealthEvent = {
    kind: 'health',
    eventId: eventIdOf(message, raw),
    status: m.status,
    source: m.source,
    metrics: m.metrics,
    at: m.timestamp ?? receivedAt.toISOString(),
    receivedAt: receivedAt.toISOString(),
  };
  return { ok: true, event };
}

// ---- helpers

function reject(reason: string): ParseResult {
  return { ok: false, reason };
}

function eventIdOf(message: JsonObject, raw: Buffer): string {
  return publisherId(get(message, 'event_id')) ?? publisherId(get(message, 'id')) ?? sha256(raw);
}

function sha256(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only: a message without `constructor` must not find Object.prototype's. */
function get(object: JsonObject, key: string): Json | undefined {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** Plain assignment of a `__proto__` key would replace the prototype instead of storing the field. */
function define(object: JsonObject, key: string, value: Json): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

function nonBlank(value: Json | undefined): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

/** A non-blank string kept as sent (untrimmed): a hint is noted in metadata exactly as it came. */
function nonBlankAsSent(value: Json | undefined): string | null {
  return nonBlank(value) === null ? null : (value as string);
}

/** Where a value sits, built only when a reason needs it: each nested container gets one link. */
interface Place {
  parent: Place | null;
  key: string | number;
}

// JSON.parse turns "\u0000" into NUL and "\ud800" into a lone surrogate; PostgreSQL refuses both
// in text and jsonb, and "1e400" into Infinity, which jsonb and JSON.stringify cannot hold.
// JSON in valid UTF-8 cannot carry either character raw, so only escapes bring them in. No `u` flag: without
// it the regex sees UTF-16 code units, so it can tell a surrogate pair from a lone half.
const SUSPECT = /[\0\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * One walk over the parsed message, so the cost stays one traversal: nesting deeper than
 * MAX_DEPTH, a string (value or key, at any depth) PostgreSQL cannot store, or a number that
 * overflowed to Infinity. Returns the reason, naming where, or null when all is storable.
 */
function unstorableValue(root: JsonObject): string | null {
  const stack: [Json, number, Place | null][] = [[root, 1, null]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [container, depth, place] = next;
    if (depth > MAX_DEPTH) return `message is nested more than ${MAX_DEPTH} levels deep`;
    const array = Array.isArray(container);
    const keys = array ? null : Object.keys(container as JsonObject);
    const length = keys ? keys.length : (container as Json[]).length;
    for (let i = 0; i < length; i++) {
      const key = keys ? keys[i]! : i;
      if (typeof key === 'string') {
        const bad = badText(key);
        if (bad) return `a key ${where(place)} (${show(key)}) holds ${bad}`;
      }
      const value = (array ? container[i] : (container as JsonObject)[key]) as Json;
      if (typeof value === 'string') {
        const bad = badText(value);
        if (bad) return `${pathOf({ parent: place, key })} holds ${bad}`;
      } else if (typeof value === 'number') {
        if (!Number.isFinite(value)) {
          return `${pathOf({ parent: place, key })} is a number too large to represent (it overflows to Infinity)`;
        }
      } else if (typeof value === 'object' && value !== null) {
        stack.push([value, depth + 1, { parent: place, key }]);
      }
    }
  }
  return null;
}

function badText(text: string): string | null {
  if (!SUSPECT.test(text)) return null;
  if (text.includes('\0')) return 'a NUL character (\\u0000), which PostgreSQL cannot store';
  return LONE_SURROGATE.test(text) ? 'a lone UTF-16 surrogate, which is not valid Unicode text' : null;
}

/** `data.data.metadata["odd key"][2]`: dotted where a key reads as a name, quoted otherwise. */
function pathOf(place: Place): string {
  let path = '';
  for (let p: Place | null = place; p; p = p.parent) {
    const step = typeof p.key === 'number' ? `[${p.key}]` : /^[A-Za-z_$][\w$]*$/.test(p.key) ? `.${p.key}` : `[${show(p.key)}]`;
    path = step + path;
  }
  return path.startsWith('.') ? path.slice(1) : path;
}

function where(place: Place | null): string {
  return place ? `in ${pathOf(place)}` : 'at the top level';
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A value quoted for a reason, cut short: the raw bytes are stored beside the reason anyway. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  if (text.length <= 60) return text;
  // Never cut a surrogate pair in two: the reason is stored as text, and half a pair is unstorable.
  const cut = /[\uD800-\uDBFF]/.test(text[56]!) ? 56 : 57;
  return `${text.slice(0, cut)}...`;
}
