import { tlsFailure } from '../util/tls-failure.ts';

/**
 * What to change in tally.yaml when the brokers refuse Tally's connection for its security
 * settings (credentials, TLS), or undefined for any other failure. kafkajs reports these as a
 * retried connection error or a SASL error whose text names neither the setting nor the fix.
 */
export function kafkaSecurityHint(err: unknown): string | undefined {
  const name = (err as { name?: unknown })?.name;
  const text = errorText(err);
  if (name === 'KafkaJSSASLAuthenticationError' || /\bSASL\b.*authentication failed/i.test(text)) {
    return 'the brokers refused the credentials: check kafka.sasl (mechanism, username, password) in tally.yaml';
  }
  const tls = tlsFailure(text);
  if (tls === 'unknown-ca') {
    return "the brokers' TLS certificate is signed by a CA this machine does not trust: set kafka.ssl.ca_file in tally.yaml to that CA's certificate (PEM)";
  }
  if (tls === 'client-certificate') {
    return 'the brokers require a client certificate: set kafka.ssl.cert_file and kafka.ssl.key_file in tally.yaml';
  }
  if (tls === 'names-or-dates') {
    return "the brokers' TLS certificate does not fit (its names or dates): check kafka.brokers and the brokers' certificate";
  }
  if (name === 'KafkaJSConnectionClosedError' || /\bClosed connection\b/.test(text)) {
    return 'the broker closed the connection: if its listener expects TLS or SASL, set kafka.ssl or kafka.sasl in tally.yaml';
  }
  return undefined;
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
