import { describe, expect, it } from 'vitest';
import { kafkaRefusal, kafkaSecurityHint, withKafkaHint } from '../../../src/ingest/kafka-security-hint.ts';
import { OAuthBearerRefusedError } from '../../../src/ingest/oauth-bearer-authenticator.ts';
import { KafkaTokenError } from '../../../src/ingest/oauth-token-source.ts';

/** An error shaped as kafkajs throws them: a name, a message, the socket's error inside. */
function kafkajsError(name: string, message: string, originalError?: Error): Error {
  const e = new Error(message) as Error & { originalError?: Error };
  e.name = name;
  if (originalError) e.originalError = originalError;
  return e;
}

describe('kafkaSecurityHint', () => {
  it('names kafka.sasl when the brokers refuse the credentials, whatever the mechanism', () => {
    for (const msg of [
      'SASL PLAIN authentication failed: Authentication failed: Invalid username or password',
      'SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials',
    ]) {
      expect(kafkaSecurityHint(kafkajsError('KafkaJSSASLAuthenticationError', msg))).toMatch(
        /check kafka\.sasl/,
      );
    }
  });

  it('OAUTHBEARER: a token endpoint that refused is certain, one unreachable a hint; a refused token names kafka.sasl', () => {
    const refused = new KafkaTokenError(
      'the OAuth token endpoint http://i/t answered 401 for client a',
      'check kafka.sasl.client_id',
      true,
    );
    const wrapped = kafkajsError('KafkaJSNonRetriableError', refused.message, refused);
    // The error shown already says what the endpoint answered: the hint adds only what to do.
    expect(kafkaRefusal(wrapped)).toBe('check kafka.sasl.client_id');
    const other = kafkajsError('KafkaJSNumberOfRetriesExceeded', 'retries exhausted', refused);
    expect(kafkaRefusal(other)).toBe(`${refused.message}: check kafka.sasl.client_id`);
    const down = new KafkaTokenError(
      'cannot get an OAuth token for Kafka from http://i/t: ECONNREFUSED',
      'check kafka.sasl.token_url',
      false,
    );
    expect(kafkaRefusal(down)).toBeUndefined();
    expect(kafkaSecurityHint(kafkajsError('KafkaJSNumberOfRetriesExceeded', 'x', down))).toMatch(
      /check kafka\.sasl\.token_url/,
    );
    // The exchange's refusal, inside kafkajs's wrapper as the consumer reports it.
    const token = kafkajsError(
      'KafkaJSNonRetriableError',
      'SASL OAUTHBEARER authentication failed: the brokers refused the token ({"status":"invalid_token"})',
      new OAuthBearerRefusedError(
        'SASL OAUTHBEARER authentication failed: the brokers refused the token ({"status":"invalid_token"})',
      ),
    );
    expect(kafkaRefusal(token)).toMatch(
      /^the brokers refused the OAuth token: check kafka\.sasl \(token_url/,
    );
  });

  it('finds the token failure where kafkajs kept only its message, or nested it under both links', () => {
    const refused = new KafkaTokenError(
      'the OAuth token endpoint http://i/t2 answered 403 for client b',
      'check kafka.sasl.client_id',
      true,
    );
    // Rebuilt from the message alone (KafkaJSError sets no cause): found by its text.
    const rebuilt = kafkajsError('KafkaJSNonRetriableError', refused.message);
    expect(kafkaSecurityHint(rebuilt)).toBe('check kafka.sasl.client_id');
    expect(kafkaRefusal(rebuilt)).toBe('check kafka.sasl.client_id');
    // Retries exceeded around a retry error around it: originalError leads elsewhere, cause to it.
    const inner = kafkajsError(
      'KafkaJSNumberOfRetriesExceeded',
      'retries',
      kafkajsError('KafkaJSError', 'x'),
    );
    (inner as Error & { cause?: unknown }).cause = refused;
    const outer = kafkajsError('KafkaJSNumberOfRetriesExceeded', 'retries exhausted', inner);
    expect(kafkaRefusal(outer)).toBe(`${refused.message}: check kafka.sasl.client_id`);
    // As /health shows it (the consumer's error, or the lag monitor's between the consumer's tries).
    expect(withKafkaHint(rebuilt)).toBe(`${refused.message} (check kafka.sasl.client_id)`);
    expect(withKafkaHint(new Error('Kafka did not answer within 5000 ms'))).toBe(
      'Kafka did not answer within 5000 ms',
    );
    // Another client's message is not this failure, nor one whose client id only starts the same.
    expect(
      kafkaSecurityHint(
        kafkajsError(
          'KafkaJSNonRetriableError',
          'the OAuth token endpoint http://i/t2 answered 403 for client bc',
        ),
      ),
    ).toBeUndefined();
    expect(
      kafkaSecurityHint(
        kafkajsError(
          'KafkaJSNonRetriableError',
          'the OAuth token endpoint http://i/t2 answered 403 for client c',
        ),
      ),
    ).toBeUndefined();
  });

  it('names the TLS setting that fits the handshake failure, also inside a retry error', () => {
    const retried = (inner: string) =>
      kafkajsError(
        'KafkaJSNumberOfRetriesExceeded',
        'retries exhausted',
        kafkajsError('KafkaJSConnectionError', `Connection error: ${inner}`),
      );
    expect(kafkaSecurityHint(retried('self-signed certificate in certificate chain'))).toMatch(
      /set kafka\.ssl\.ca_file/,
    );
    expect(kafkaSecurityHint(retried('unable to get local issuer certificate'))).toMatch(
      /set kafka\.ssl\.ca_file/,
    );
    expect(
      kafkaSecurityHint(
        retried(
          'error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:SSL alert number 42',
        ),
      ),
    ).toMatch(/set \(or check\) kafka\.ssl\.cert_file and kafka\.ssl\.key_file/);
    expect(kafkaSecurityHint(retried("Hostname/IP does not match certificate's altnames"))).toMatch(
      /names or dates/,
    );
    expect(kafkaSecurityHint(kafkajsError('KafkaJSConnectionClosedError', 'Closed connection'))).toMatch(
      /kafka\.ssl or kafka\.sasl/,
    );
  });

  it('counts a closed connection as a guess only: kafkaRefusal (tally append exits on it) leaves it out', () => {
    const closed = kafkajsError('KafkaJSConnectionClosedError', 'Closed connection');
    expect(kafkaSecurityHint(closed)).toMatch(/kafka\.ssl or kafka\.sasl/);
    expect(kafkaRefusal(closed)).toBeUndefined();
    expect(
      kafkaRefusal(kafkajsError('KafkaJSSASLAuthenticationError', 'SASL PLAIN authentication failed')),
    ).toMatch(/kafka\.sasl/);
  });

  it('says nothing for failures that are not about security', () => {
    expect(
      kafkaSecurityHint(
        kafkajsError('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092'),
      ),
    ).toBeUndefined();
    expect(kafkaSecurityHint(new Error('This server does not host this topic-partition'))).toBeUndefined();
    expect(kafkaSecurityHint('a string')).toBeUndefined();
    expect(kafkaSecurityHint(undefined)).toBeUndefined();
  });
});
