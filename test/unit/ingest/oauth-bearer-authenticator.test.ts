import type { AuthenticationProviderArgs } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  OAuthBearerRefusedError,
  oauthBearerAuthenticator,
} from '../../../src/ingest/oauth-bearer-authenticator.ts';

/** kafkajs's side of one exchange: what was sent, and the broker's auth bytes (length-prefixed). */
function exchange(reply: Buffer | Error) {
  const sent: Buffer[] = [];
  const args = {
    host: '127.0.0.1',
    port: 9092,
    logger: {} as AuthenticationProviderArgs['logger'],
    saslAuthenticate: async ({
      request,
      response,
    }: Parameters<AuthenticationProviderArgs['saslAuthenticate']>[0]) => {
      sent.push(await request.encode());
      if (reply instanceof Error) throw reply;
      if (!response) return undefined;
      const raw = Buffer.alloc(4 + reply.length);
      raw.writeInt32BE(reply.length, 0);
      reply.copy(raw, 4);
      return response.parse(await response.decode(raw));
    },
  } as AuthenticationProviderArgs;
  return { args, sent };
}

describe('oauthBearerAuthenticator', () => {
  it("sends RFC 7628's first message, length-prefixed, with the extensions; an empty answer is success", async () => {
    const { args, sent } = exchange(Buffer.alloc(0));
    const auth = oauthBearerAuthenticator(async () => ({
      value: 'tok.en',
      extensions: { logicalCluster: 'lkc-1', pool: 'p' },
    }));
    await auth(args).authenticate();
    const bytes = sent[0]!;
    expect(bytes.readInt32BE(0)).toBe(bytes.length - 4);
    expect(bytes.subarray(4).toString()).toBe(
      'n,,\u0001auth=Bearer tok.en\u0001logicalCluster=lkc-1\u0001pool=p\u0001\u0001',
    );
  });

  it("takes the broker's error challenge for the refusal it is, with the broker's status", async () => {
    const { args, sent } = exchange(Buffer.from('{"status":"invalid_token"}'));
    const err = await oauthBearerAuthenticator(async () => ({ value: 't' }))(args)
      .authenticate()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthBearerRefusedError);
    expect((err as OAuthBearerRefusedError).retriable).toBe(false);
    expect((err as Error).message).toBe(
      'SASL OAUTHBEARER authentication failed: the brokers refused the token ({"status":"invalid_token"})',
    );
    // The exchange is ended as RFC 7628 asks: a second message of one ^A.
    expect(sent[1]).toEqual(Buffer.from([0, 0, 0, 1, 1]));
  });

  it('without a token, ends the exchange the handshake began (one ^A) and throws the token error itself', async () => {
    const { args, sent } = exchange(new Error('SASL_AUTHENTICATION_FAILED'));
    const refused = new Error('the OAuth token endpoint answered 401');
    const err = await oauthBearerAuthenticator(async () => {
      throw refused;
    })(args)
      .authenticate()
      .catch((e: unknown) => e);
    expect(err).toBe(refused);
    expect(sent).toEqual([Buffer.from([0, 0, 0, 1, 1])]);
  });

  it('wraps a refusal said with an error code as a refusal naming OAUTHBEARER; a lost connection stays itself', async () => {
    const refusal = Object.assign(new Error('Authentication failed during authentication'), {
      type: 'SASL_AUTHENTICATION_FAILED',
    });
    await expect(
      oauthBearerAuthenticator(async () => ({ value: 't' }))(exchange(refusal).args).authenticate(),
    ).rejects.toThrow(
      /^SASL OAUTHBEARER authentication failed: Authentication failed during authentication$/,
    );
    const lost = Object.assign(new Error('Connection error: ECONNRESET'), {
      name: 'KafkaJSConnectionError',
      retriable: true,
    });
    const err = await oauthBearerAuthenticator(async () => ({ value: 't' }))(exchange(lost).args)
      .authenticate()
      .catch((e: unknown) => e);
    expect(err).toBe(lost);
  });
});
