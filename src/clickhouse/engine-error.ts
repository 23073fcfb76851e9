import { TallyError } from '../errors.ts';
import { tlsFailure, tlsHint } from '../util/tls-failure.ts';

/** ClickHouse refused a statement. Carries ClickHouse's own error code and name. */
export class EngineError extends TallyError {
  constructor(
    message: string,
    readonly clickhouseCode: string | undefined,
    readonly clickhouseType: string | undefined,
    readonly sql: string,
    cause?: unknown,
  ) {
    super('clickhouse-error', message, { exitCode: 2, cause });
    this.name = 'EngineError';
  }
}

/** ClickHouse could not be talked to at all (down, or its TLS refused): not the statement's fault. */
export function isConnectionFailure(err: unknown): err is TallyError {
  const code = err instanceof TallyError ? err.code : undefined;
  return code === 'clickhouse-unreachable' || code === 'clickhouse-tls';
}

/** A connection error that means the request never reached the server (safe to send again). */
export const NOT_SENT = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN/i;

const UNREACHABLE = /ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|socket hang up|Timeout error|ETIMEDOUT/i;

/** Turns whatever @clickhouse/client threw into a TallyError a user can act on. */
export function toEngineError(err: unknown, sql: string, where: string): TallyError {
  if (err instanceof TallyError) return err;
  const e = err as { message?: string; code?: string; type?: string };
  const message = String(e?.message ?? err);
  // Only a connection's failure: an error ClickHouse answered (it has a type) may quote a
  // certificate message of its own (url(), s3()), and is the statement's error.
  const tls = e?.type === undefined ? tlsFailure(message, e?.code) : undefined;
  if (tls) {
    return new TallyError('clickhouse-tls', `cannot connect to ClickHouse at ${where} over TLS: ${message}`, {
      exitCode: 2,
      hint: tlsHint(
        tls,
        'clickhouse.tls',
        { subject: 'the server', possessive: "the server's" },
        'clickhouse.url',
      ),
      cause: err,
    });
  }
  if (UNREACHABLE.test(message) || UNREACHABLE.test(String(e?.code ?? ''))) {
    return new TallyError('clickhouse-unreachable', `cannot reach ClickHouse at ${where}: ${message}`, {
      exitCode: 2,
      hint: 'start it with `tally services up`, or set clickhouse.url / TALLY_CLICKHOUSE_URL',
      cause: err,
    });
  }
  return new EngineError(message.trim(), e?.code, e?.type, sql, err);
}

/**
 * The first line of what ClickHouse said, as a user reads it: without the `(version ...)` current
 * servers append, and with 18.16's exception plumbing (`Code: 47, e.displayText() = DB::Exception:
 * <message>, e.what() = DB::Exception`) reduced to `<message> (code 47)`.
 */
export function engineMessage(err: unknown): string {
  const first = String((err as Error)?.message ?? err).split('\n')[0]!;
  const s = first.replace(/\s*\(version [^)]*\)\s*$/, '').trim();
  const old =
    /^Code: (\d+), e\.displayText\(\) = DB::Exception: (.*?)(?:, e\.what\(\) = DB::Exception)?$/.exec(s);
  return old ? `${old[2]} (code ${old[1]})` : s;
}

/** ClickHouse's codes for a value that does not parse, convert or fit its type. */
export const CONVERSION_CODES: ReadonlySet<string> = new Set([
  '6',
  '27',
  '38',
  '41',
  '69',
  '70',
  '72',
  '321',
]);
