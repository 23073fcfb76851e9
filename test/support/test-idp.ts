// A small OAuth 2.0 identity provider on loopback, for brokers that validate OAUTHBEARER tokens
// against a JWKS: a token endpoint (client-credentials grant, HTTP Basic client authentication)
// that signs RS256 JWTs, and the JWKS with the public key. It records every token request.
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface IdpClient {
  secret: string;
  /** The token's `aud`; the test broker expects `kafka`. */
  audience: string;
  lifetimeS: number;
}

export interface TestIdp {
  tokenUrl: string;
  jwksUrl: string;
  /** Tokens issued, per client id. */
  issued: Map<string, number>;
  /** Requests refused (unknown client or wrong secret), per client id given. */
  refused: Map<string, number>;
  /** Refuse a known client from now on (a revoked or rotated secret), or accept it again. */
  refuse(clientId: string, refusing: boolean): void;
  close(): Promise<void>;
}

const KID = 'tally-test-key';
const ISSUER = 'https://idp.tally.test';

export async function startTestIdp(clients: Record<string, IdpClient>): Promise<TestIdp> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
  const issued = new Map<string, number>();
  const refused = new Map<string, number>();
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const refusing = new Set<string>();

  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const json = (status: number, value: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.method === 'GET' && req.url === '/jwks') return json(200, { keys: [jwk] });
      if (req.method !== 'POST' || req.url !== '/token') return json(404, { error: 'not_found' });
      const form = new URLSearchParams(body);
      const [id, secret] = basicCredentials(req.headers.authorization);
      const client = id === undefined ? undefined : clients[id];
      if (form.get('grant_type') !== 'client_credentials') {
        return json(400, { error: 'unsupported_grant_type' });
      }
      if (!client || client.secret !== secret || refusing.has(id!)) {
        count(refused, id ?? '');
        return json(401, { error: 'invalid_client', error_description: 'client authentication failed' });
      }
      count(issued, id!);
      const now = Math.floor(Date.now() / 1000);
      const token = jwt(privateKey, {
        iss: ISSUER,
        sub: id,
        aud: client.audience,
        iat: now,
        exp: now + client.lifetimeS,
        ...(form.get('scope') ? { scope: form.get('scope') } : {}),
      });
      return json(200, { access_token: token, token_type: 'Bearer', expires_in: client.lifetimeS });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    tokenUrl: `${base}/token`,
    jwksUrl: `${base}/jwks`,
    issued,
    refused,
    refuse: (clientId, on) => {
      if (on) refusing.add(clientId);
      else refusing.delete(clientId);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function basicCredentials(header: string | undefined): [string | undefined, string | undefined] {
  const m = /^Basic (.+)$/.exec(header ?? '');
  if (!m) return [undefined, undefined];
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return [undefined, undefined];
  return [decodeURIComponent(text.slice(0, colon)), decodeURIComponent(text.slice(colon + 1))];
}

function jwt(key: KeyObject, claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${part({ alg: 'RS256', typ: 'JWT', kid: KID })}.${part(claims)}`;
  return `${head}.${sign('sha256', Buffer.from(head), key).toString('base64url')}`;
}
