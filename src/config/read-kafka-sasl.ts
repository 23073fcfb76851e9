import type { Node } from 'yaml';
import { hasCredentials, isHttpUrl } from '../util/is-http-url.ts';
import type { MapView, YamlReader } from '../yaml/yaml-reader.ts';
import type { KafkaSasl } from './config.ts';

type ReadString = (node: Node | null | undefined, what: string) => string | undefined;

const PASSWORD_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
const SASL_MECHANISMS = [...PASSWORD_MECHANISMS, 'oauthbearer'] as const;
const PASSWORD_KEYS = ['username', 'password'] as const;
const OAUTH_KEYS = ['token_url', 'client_id', 'client_secret', 'scope', 'extensions'] as const;
export const SASL_KEYS = ['mechanism', ...PASSWORD_KEYS, ...OAUTH_KEYS] as const;

// Kafka's own rules for SASL extensions (OAuthBearerClientInitialResponse); `auth` is the token's.
const EXTENSION_NAME = /^[A-Za-z]+$/;
const EXTENSION_VALUE = /^[\x21-\x7E \t\r\n]+$/;

/**
 * `kafka.sasl`: `mechanism` with `username`/`password` (plain, scram-*) or with an OAuth 2.0
 * client (`oauthbearer`: `token_url`, `client_id`, `client_secret`, optional `scope` and
 * `extensions`). A key of the other kind is an error at its line, not silently unused.
 */
export function readKafkaSasl(r: YamlReader, s: MapView, str: ReadString): KafkaSasl | undefined {
  // Kafka's own settings spell mechanisms in capitals (SCRAM-SHA-256): either case is taken.
  const mech = str(s.require('mechanism'), 'kafka.sasl.mechanism')?.toLowerCase();
  if (mech === undefined) return undefined;
  if (!(SASL_MECHANISMS as readonly string[]).includes(mech)) {
    r.error(
      s.get('mechanism'),
      'invalid-config',
      `kafka.sasl.mechanism must be one of ${SASL_MECHANISMS.join(', ')} (any case)`,
    );
    return undefined;
  }
  const oauth = mech === 'oauthbearer';
  const before = r.problems.length;
  for (const key of oauth ? PASSWORD_KEYS : OAUTH_KEYS) {
    if (!s.has(key)) continue;
    r.error(
      s.keyNode(key),
      'invalid-config',
      `kafka.sasl.${key} is not used with mechanism ${mech}`,
      oauth
        ? 'oauthbearer takes token_url, client_id, client_secret and optionally scope and extensions'
        : 'username and password go with plain and scram-*; token_url, client_id and client_secret with oauthbearer',
    );
  }
  if (!oauth) {
    const username = str(s.require('username'), 'kafka.sasl.username');
    const password = str(s.require('password'), 'kafka.sasl.password');
    if (username === undefined || password === undefined || r.problems.length > before) return undefined;
    return { mechanism: mech as (typeof PASSWORD_MECHANISMS)[number], username, password };
  }

  const tokenUrl = str(s.require('token_url'), 'kafka.sasl.token_url');
  if (tokenUrl !== undefined && !isHttpUrl(tokenUrl)) {
    r.error(
      s.get('token_url'),
      'invalid-config',
      'kafka.sasl.token_url must be an http:// or https:// URL',
      "the OAuth 2.0 token endpoint of the identity provider (Kafka's sasl.oauthbearer.token.endpoint.url)",
    );
  } else if (tokenUrl !== undefined && hasCredentials(tokenUrl)) {
    // Messages name the endpoint: credentials in it would reach logs and /health.
    r.error(
      s.get('token_url'),
      'invalid-config',
      'kafka.sasl.token_url must not carry a user or password',
      'give them as client_id and client_secret',
    );
  }
  const clientId = nonEmpty(r, s, 'client_id', str(s.require('client_id'), 'kafka.sasl.client_id'));
  const clientSecret = nonEmpty(
    r,
    s,
    'client_secret',
    str(s.require('client_secret'), 'kafka.sasl.client_secret'),
  );
  const scope = s.has('scope') ? str(s.get('scope'), 'kafka.sasl.scope') : undefined;
  const extensions = s.has('extensions') ? readExtensions(r, s.get('extensions'), str) : undefined;
  if (
    tokenUrl === undefined ||
    clientId === undefined ||
    clientSecret === undefined ||
    r.problems.length > before
  ) {
    return undefined;
  }
  return {
    mechanism: 'oauthbearer',
    tokenUrl,
    clientId,
    clientSecret,
    ...(scope ? { scope } : {}),
    ...(extensions && Object.keys(extensions).length > 0 ? { extensions } : {}),
  };
}

/** An empty id or secret (an unset `${VAR:-}`) is an error here, not a 401 at the first connection. */
function nonEmpty(r: YamlReader, s: MapView, key: string, value: string | undefined): string | undefined {
  if (value !== '') return value;
  r.error(s.get(key), 'invalid-config', `kafka.sasl.${key} is empty (is its environment variable set?)`);
  return undefined;
}

function readExtensions(
  r: YamlReader,
  node: Node | null | undefined,
  str: ReadString,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const { name, keyNode, value } of r.namedMap(node, '`kafka.sasl.extensions`')) {
    if (!EXTENSION_NAME.test(name) || name === 'auth') {
      r.error(
        keyNode,
        'invalid-config',
        `kafka.sasl.extensions: \`${name}\` is not a valid extension name`,
        'letters only (Kafka refuses others), and not `auth`, which carries the token',
      );
      continue;
    }
    const text = str(value, `kafka.sasl.extensions.${name}`);
    if (text === undefined) continue;
    if (!EXTENSION_VALUE.test(text)) {
      r.error(
        value,
        'invalid-config',
        text === ''
          ? `kafka.sasl.extensions.${name} is empty`
          : `kafka.sasl.extensions.${name} must be printable ASCII (Kafka refuses other characters)`,
      );
      continue;
    }
    out[name] = text;
  }
  return out;
}
