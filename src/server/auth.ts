import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenConfig } from '../config/config.ts';
import { HttpError } from './http-error.ts';

/** What a request wants to do, for the token check. */
export type Access =
  | {
      kind: 'endpoint';
      name: string /** the endpoint's `token:` (a scope or a token name) */;
      required?: string;
    }
  | { kind: 'append'; datasource: string }
  | { kind: 'admin' };

/**
 * Checks tokens in constant time: every configured token is compared (as SHA-256 digests, so
 * lengths never leak), whatever matches first.
 */
export class TokenAuth {
  private digests: Array<{ token: TokenConfig; digest: Buffer }> = [];

  constructor(tokens: readonly TokenConfig[]) {
    this.replace(tokens);
  }

  /** The tokens from now on (`tally dev` reloading tally.yaml): the next request is checked against them. */
  replace(tokens: readonly TokenConfig[]): void {
    this.digests = tokens.map((token) => ({ token, digest: secretDigest(token.value) }));
  }

  /** With no tokens configured, everything is public (a development setup). */
  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Throws 401 / 403; returns the matched token (undefined when auth is off). */
  check(presented: string | undefined, access: Access): TokenConfig | undefined {
    if (!this.enabled) return undefined;
    const match = this.identify(presented);
    if (!allows(match, access)) {
      throw new HttpError(
        403,
        `the token \`${match.name}\` (scope ${match.scope}) may not ${describe(access)}`,
      );
    }
    return match;
  }

  /**
   * Which of `endpoints` the presented token may call (every one when auth is off): what the
   * OpenAPI document and the page show it. 401 as `check` for a missing or unknown token.
   */
  callable<E extends { name: string; token?: string | undefined }>(
    presented: string | undefined,
    endpoints: Iterable<E>,
  ): E[] {
    const all = [...endpoints];
    if (!this.enabled) return all;
    const match = this.identify(presented);
    return all.filter((e) =>
      allows(match, { kind: 'endpoint', name: e.name, ...(e.token ? { required: e.token } : {}) }),
    );
  }

  /**
   * Whether the caller may read what ClickHouse and Kafka say (URLs, SQL, table names): with no
   * tokens configured, or with an admin token. Never throws: for answers that need no token.
   */
  seesInternals(presented: string | undefined): boolean {
    return !this.enabled || this.matching(presented)?.scope === 'admin';
  }

  /** The configured token presented (compared in constant time); 401 when none matches. */
  private identify(presented: string | undefined): TokenConfig {
    if (!presented)
      throw new HttpError(401, 'a token is required: send `Authorization: Bearer <token>` or `?token=`');
    const match = this.matching(presented);
    if (!match) throw new HttpError(401, 'the token is not valid');
    return match;
  }

  /** The token whose secret is `presented`, every one compared whatever matches first. */
  private matching(presented: string | undefined): TokenConfig | undefined {
    if (!presented) return undefined;
    let match: TokenConfig | undefined;
    for (const d of this.digests) {
      if (matchesDigest(presented, d.digest) && !match) match = d.token;
    }
    return match;
  }
}

function allows(t: TokenConfig, access: Access): boolean {
  if (t.scope === 'admin') return true;
  switch (access.kind) {
    case 'admin':
      return false;
    case 'append':
      return (
        t.scope === 'append' && (t.datasources === undefined || t.datasources.includes(access.datasource))
      );
    case 'endpoint': {
      if (t.scope !== 'read') return false;
      if (t.endpoints !== undefined && !t.endpoints.includes(access.name)) return false;
      // `token: <name>` on an endpoint restricts it to that token (or admin).
      const req = access.required;
      return req === undefined || req === 'read' || req === t.name;
    }
  }
}

function describe(access: Access): string {
  if (access.kind === 'endpoint') return `call the endpoint \`${access.name}\``;
  if (access.kind === 'append') return `append to \`${access.datasource}\``;
  return 'do this (admin only)';
}

/** A secret as it is kept for comparison: its SHA-256, so comparing never leaks its length. */
export function secretDigest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Whether `presented` is the secret of `digest`, compared in constant time. */
export function matchesDigest(presented: string, digest: Buffer): boolean {
  return timingSafeEqual(secretDigest(presented), digest);
}

/** The token from `Authorization: Bearer x` or `?token=x`. */
export function presentedToken(
  authorization: string | undefined,
  query: string | undefined,
): string | undefined {
  const m = authorization ? /^Bearer\s+(.+)$/i.exec(authorization.trim()) : null;
  return m?.[1]?.trim() || query || undefined;
}

/** The token a hono request presents (`Authorization: Bearer` or `?token=`). */
export function requestToken(c: {
  req: { header(name: string): string | undefined; query(name: string): string | undefined };
}): string | undefined {
  return presentedToken(c.req.header('authorization'), c.req.query('token'));
}
