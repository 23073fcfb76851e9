import type { AuthenticationProviderArgs, Authenticator } from 'kafkajs';
import { TallyError } from '../errors.ts';
import type { OAuthBearerToken } from './oauth-token-source.ts';

/** The brokers refused the OAUTHBEARER token (or the exchange failed): not retried inside kafkajs. */
export class OAuthBearerRefusedError extends TallyError {
  readonly retriable = false;
  constructor(message: string, cause?: unknown) {
    super('kafka-refused', message, { exitCode: 2, cause });
    this.name = 'OAuthBearerRefusedError';
  }
}

/**
 * SASL/OAUTHBEARER (RFC 7628) for kafkajs, in place of its own: a broker that refuses a token
 * answers the client's message with an error challenge (`{"status":"invalid_token"}`) and no
 * error code, which kafkajs 2.2.4 takes for success; the connection then fails later as "No
 * brokers in the broker pool", with the reason gone. Here a non-empty challenge is the refusal,
 * with the broker's status in the message.
 */
export function oauthBearerAuthenticator(
  token: () => Promise<OAuthBearerToken>,
): (args: AuthenticationProviderArgs) => Authenticator {
  return ({ saslAuthenticate }) => ({
    authenticate: async () => {
      let got: OAuthBearerToken;
      try {
        got = await token();
      } catch (err) {
        // The handshake is done: left there, the connection answers kafkajs's next handshake with
        // ILLEGAL_SASL_STATE (kafkajs keeps it). A message the broker refuses ends the exchange, and
        // the broker closes the connection, so the next try starts on a new one.
        await saslAuthenticate({ request: { encode: () => withLength(Buffer.from([1])) } }).catch(() => {});
        throw err;
      }
      const message = initialResponse(got);
      let challenge: Buffer | undefined;
      try {
        // kafkajs's type says void too: it returns nothing when given no response decoder.
        challenge = (await saslAuthenticate<Buffer>({
          request: { encode: () => withLength(message) },
          response: { decode: (raw) => withoutLength(raw), parse: (data) => data },
        })) as Buffer;
      } catch (err) {
        // A refusal the broker says with an error code; a lost connection stays what it is, so
        // that kafkajs retries it.
        if ((err as { type?: unknown }).type !== 'SASL_AUTHENTICATION_FAILED') throw err;
        throw new OAuthBearerRefusedError(
          `SASL OAUTHBEARER authentication failed: ${(err as Error).message}`,
          err,
        );
      }
      if (challenge && challenge.length > 0) {
        // RFC 7628 3.2.3: the client ends a failed exchange with ^A; the broker then fails it.
        await saslAuthenticate({ request: { encode: () => withLength(Buffer.from([1])) } }).catch(() => {});
        throw new OAuthBearerRefusedError(
          `SASL OAUTHBEARER authentication failed: the brokers refused the token (${challenge.toString('utf8').slice(0, 300)})`,
        );
      }
    },
  });
}

/** `n,,` ^A `auth=Bearer <token>` (^A `key=value`)* ^A ^A: the client's first message. */
function initialResponse(token: OAuthBearerToken): Buffer {
  const SOH = '\u0001';
  const extensions = Object.entries(token.extensions ?? {})
    .map(([k, v]) => `${SOH}${k}=${v}`)
    .join('');
  return Buffer.from(`n,,${SOH}auth=Bearer ${token.value}${extensions}${SOH}${SOH}`, 'utf8');
}

/** Kafka's `bytes`: a 32-bit length, then the bytes (what kafkajs's SaslAuthenticate expects). */
function withLength(bytes: Buffer): Buffer {
  const out = Buffer.alloc(4 + bytes.length);
  out.writeInt32BE(bytes.length, 0);
  bytes.copy(out, 4);
  return out;
}

function withoutLength(raw: Buffer): Buffer {
  if (raw.length < 4) return Buffer.alloc(0);
  const length = raw.readInt32BE(0);
  return length > 0 ? raw.subarray(4, 4 + length) : Buffer.alloc(0);
}
