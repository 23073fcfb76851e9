import { TallyError } from '../errors.ts';
import { type TlsFailure, tlsFailure } from '../util/tls-failure.ts';

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

/** A connection error that means the request never reached the server (safe to send again). */
export const NOT_SENT = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN/i;

const UNREACHABLE = /ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|socket hang up|Timeout error|ETIMEDOUT/i;

const TLS_HINTS: Record<TlsFailure, string> = {
  'unknown-ca':
    "its certificate is signed by a CA this machine does not trust: set clickhouse.tls.ca_file in tally.yaml to that CA's certificate (PEM)",
  'client-certificate':
    'it requires a client certificate: set clickhouse.tls.cert_file and clickhouse.tls.key_file in tally.yaml',
  'names-or-dates':
    "its certificate does not fit (its names or dates): check clickhouse.url and the server's certificate",
};

/** Turns whatever @clickhouse/client threw into a TallyError a user can act on. */
export function toEngineError(err: unknown, sql: string, where: string): TallyError {
  if (err instanceof TallyError) return err;
  const e = err as { message?: string; code?: string; type?: string };
  const message = String(e?.message ?? err);
  const tls = tlsFailure(message);
  if (tls) {
    return new TallyError('clickhouse-tls', `cannot connect to ClickHouse at ${where} over TLS: ${message}`, {
      exitCode: 2,
      hint: TLS_HINTS[tls],
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
