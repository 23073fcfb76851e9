import { tlsFailure, tlsHint } from '../util/tls-failure.ts';
import { kafkaErrorChain } from './kafka-error-chain.ts';
import { OAuthBearerRefusedError } from './oauth-bearer-authenticator.ts';
import { KafkaTokenError, recentTokenFailure } from './oauth-token-source.ts';

/**
 * What to change in tally.yaml when the brokers refuse Tally's connection for its security
 * settings (credentials, TLS), or undefined for any other failure. kafkajs reports these as a
 * retried connection error or a SASL error whose text names neither the setting nor the fix.
 * A closed connection is only a guess (a broker restarting closes them too); `kafkaRefusal`
 * gives the certain ones alone.
 */
export function kafkaSecurityHint(err: unknown): string | undefined {
  const token = tokenError(err);
  if (token) return tokenHint(err, token);
  const refused = kafkaRefusal(err);
  if (refused) return refused;
  const name = (err as { name?: unknown })?.name;
  if (name === 'KafkaJSConnectionClosedError' || /\bClosed connection\b/.test(errorText(err))) {
    return 'the broker closed the connection: if its listener expects TLS or SASL, set (or check) kafka.ssl or kafka.sasl in tally.yaml';
  }
  return undefined;
}

/** The error's message, with what to change in tally.yaml after it when kafkaSecurityHint knows. */
export function withKafkaHint(err: unknown): string {
  const message = (err as { message?: unknown })?.message;
  const hint = kafkaSecurityHint(err);
  return `${typeof message === 'string' ? message : String(err)}${hint ? ` (${hint})` : ''}`;
}

/** The hint when the brokers certainly refused Tally's credentials or TLS; else undefined. */
export function kafkaRefusal(err: unknown): string | undefined {
  const name = (err as { name?: unknown })?.name;
  const text = errorText(err);
  const token = tokenError(err);
  if (token?.refused) return tokenHint(err, token);
  if (kafkaErrorChain(err).some((e) => e instanceof OAuthBearerRefusedError)) {
    return "the brokers refused the OAuth token: check kafka.sasl (token_url, client_id, scope, extensions) in tally.yaml, and that the brokers accept the token's issuer and audience";
  }
  if (name === 'KafkaJSSASLAuthenticationError' || /\bSASL\b.*authentication failed/i.test(text)) {
    return 'the brokers refused the credentials: check kafka.sasl (mechanism, username, password) in tally.yaml';
  }
  const tls = tlsFailure(text, causeCode(err));
  return tls
    ? tlsHint(tls, 'kafka.ssl', { subject: 'the brokers', possessive: "the brokers'" }, 'kafka.brokers')
    : undefined;
}

/** The token error's hint, with its message too when the error shown does not already say it. */
function tokenHint(err: unknown, token: KafkaTokenError): string {
  const shown = (err as { message?: unknown })?.message;
  return typeof shown === 'string' && shown.includes(token.message)
    ? token.hint!
    : `${token.message}: ${token.hint}`;
}

/** A failure of the OAuth token endpoint (kafka.sasl oauthbearer), wherever kafkajs wrapped it. */
function tokenError(err: unknown): KafkaTokenError | undefined {
  return (
    kafkaErrorChain(err).find((e): e is KafkaTokenError => e instanceof KafkaTokenError) ??
    // Some kafkajs paths rebuild an error from its message alone (KafkaJSError sets no cause).
    recentTokenFailure(errorText(err))
  );
}

/** The messages of the error and of its causes, joined. */
function errorText(err: unknown): string {
  return kafkaErrorChain(err)
    .map((e) => {
      const message = (e as { message?: unknown }).message;
      return typeof message === 'string' ? message : String(e);
    })
    .join(' | ');
}

/** The first Node error code in the chain (the socket's), if any. */
function causeCode(err: unknown): string | undefined {
  for (const e of kafkaErrorChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
