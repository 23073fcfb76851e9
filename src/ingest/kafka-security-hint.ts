import { tlsFailure, tlsHint } from '../util/tls-failure.ts';

/**
 * What to change in tally.yaml when the brokers refuse Tally's connection for its security
 * settings (credentials, TLS), or undefined for any other failure. kafkajs reports these as a
 * retried connection error or a SASL error whose text names neither the setting nor the fix.
 * A closed connection is only a guess (a broker restarting closes them too); `kafkaRefusal`
 * gives the certain ones alone.
 */
export function kafkaSecurityHint(err: unknown): string | undefined {
  const refused = kafkaRefusal(err);
  if (refused) return refused;
  const name = (err as { name?: unknown })?.name;
  if (name === 'KafkaJSConnectionClosedError' || /\bClosed connection\b/.test(errorText(err))) {
    return 'the broker closed the connection: if its listener expects TLS or SASL, set kafka.ssl or kafka.sasl in tally.yaml';
  }
  return undefined;
}

/** The hint when the brokers certainly refused Tally's credentials or TLS; else undefined. */
export function kafkaRefusal(err: unknown): string | undefined {
  const name = (err as { name?: unknown })?.name;
  const text = errorText(err);
  if (name === 'KafkaJSSASLAuthenticationError' || /\bSASL\b.*authentication failed/i.test(text)) {
    return 'the brokers refused the credentials: check kafka.sasl (mechanism, username, password) in tally.yaml';
  }
  const tls = tlsFailure(text, causeCode(err));
  return tls
    ? tlsHint(tls, 'kafka.ssl', { subject: 'the brokers', possessive: "the brokers'" }, 'kafka.brokers')
    : undefined;
}

/** The message of the error and of its causes (kafkajs wraps the socket's error in a retry error). */
function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const message = (e as { message?: unknown }).message;
    parts.push(typeof message === 'string' ? message : String(e));
    e = (e as { cause?: unknown; originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return parts.join(' | ');
}

/** The Node error code of the socket error inside kafkajs's wrappers, if any. */
function causeCode(err: unknown): unknown {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return undefined;
}
