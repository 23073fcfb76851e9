/**
 * Structured logs: one JSON object per line, with a time, a level and a message, and never a
 * secret. Every entry passes through `redact` before it is written, so a token in a URL
 * (`?token=...`), an Authorization header or a field named like a secret cannot reach a log.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Where entries go. The server takes one; `jsonLines` writes them as text. */
export type LogSink = (entry: Record<string, unknown>) => void;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `bindings` (a request id, say) to every entry. */
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  /** Entries below this level are dropped; default `info`. */
  level?: LogLevel;
  /** Default: JSON lines on stdout. */
  sink?: LogSink;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing redacted entries `{ level, msg, ...fields }` to a sink. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = RANK[opts.level ?? 'info'];
  const sink = opts.sink ?? jsonLines((line) => process.stdout.write(`${line}\n`));
  const make = (bindings: Record<string, unknown>): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
      if (RANK[level] < min) return;
      // Redacted as it is built: one object per entry (a request writes one on the busiest path).
      const entry: Record<string, unknown> = { level, msg: redactText(msg) };
      redactInto(entry, bindings, 0);
      if (fields) redactInto(entry, fields, 0);
      sink(entry);
    };
    return {
      debug: (msg, fields) => emit('debug', msg, fields),
      info: (msg, fields) => emit('info', msg, fields),
      warn: (msg, fields) => emit('warn', msg, fields),
      error: (msg, fields) => emit('error', msg, fields),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make({});
}

/** A logger that drops everything, without building or redacting entries. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

/**
 * A sink that writes JSON lines, and also takes an entry its maker has already written as JSON
 * members (`"key":value,...`, every string redacted and escaped): the request log's one line per
 * request skips building, redacting and serialising an object (bench/endpoints.ts, cache hits).
 */
export interface JsonLinesSink extends LogSink {
  members(members: string): void;
}

/** Whether `sink` takes ready-made JSON members (a `jsonLines` sink). */
export function takesMembers(sink: LogSink): sink is JsonLinesSink {
  return typeof (sink as Partial<JsonLinesSink>).members === 'function';
}

/** A sink writing each entry as one line of JSON, with an ISO `time` first. */
export function jsonLines(write: (line: string) => void): JsonLinesSink {
  let lastMs = 0;
  let lastIso = '';
  // One ISO time per millisecond, however many lines it has.
  const isoNow = () => {
    const ms = Date.now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastIso = new Date(ms).toISOString();
    }
    return lastIso;
  };
  const sink: LogSink = (entry) => {
    const iso = isoNow();
    // A replacer makes every entry slower to write (a call per key): only when one is needed.
    let text: string;
    try {
      text = JSON.stringify(entry);
    } catch {
      text = JSON.stringify(entry, jsonSafe);
    }
    write(text === '{}' ? `{"time":"${iso}"}` : `{"time":"${iso}",${text.slice(1)}`);
  };
  return Object.assign(sink, {
    members: (members: string) => write(`{"time":"${isoNow()}",${members}}`),
  });
}

const SECRET_KEY = /^(token|authorization|password|secret|api[_-]?key|cookie)$/i;
const TOKEN_IN_URL = /([?&](?:token|access_token|password)=)[^&#\s]*/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;

export const REDACTED = '[redacted]';

/**
 * A copy of `entry` with secrets replaced: values of keys named token, authorization, password,
 * secret, api_key or cookie (at any depth), `token=` in URLs, and Bearer/Basic credentials in text.
 */
export function redact<T>(entry: T): T {
  return redactValue(entry, 0) as T;
}

function redactValue(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactText(v);
  if (depth > 8 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => redactValue(x, depth + 1));
  if (v instanceof Error) return redactText(String(v.stack ?? v.message));
  return redactInto({}, v as Record<string, unknown>, depth);
}

/** Copies `from`'s own keys into `out`, redacted; returns `out`. */
function redactInto(
  out: Record<string, unknown>,
  from: Record<string, unknown>,
  depth: number,
): Record<string, unknown> {
  for (const k in from) {
    if (!Object.hasOwn(from, k)) continue;
    const x = from[k];
    out[k] = isSecretKey(k) && x !== undefined && x !== null ? REDACTED : redactValue(x, depth + 1);
  }
  return out;
}

/** Log entries use few distinct keys: each is tested against SECRET_KEY once. */
const secretKeys = new Map<string, boolean>();

function isSecretKey(k: string): boolean {
  let secret = secretKeys.get(k);
  if (secret === undefined) {
    secret = SECRET_KEY.test(k);
    if (secretKeys.size < 10_000) secretKeys.set(k, secret);
  }
  return secret;
}

/** `s` with `token=` values in URLs and Bearer/Basic credentials replaced. */
export function redactText(s: string): string {
  if (!s.includes('=') && !/bearer|basic/i.test(s)) return s;
  return s.replace(TOKEN_IN_URL, `$1${REDACTED}`).replace(BEARER, `$1 ${REDACTED}`);
}

function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
