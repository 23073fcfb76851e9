import type { KafkaOAuth } from '../config/config.ts';
import { TallyError } from '../errors.ts';

/** A token whose lifetime the endpoint does not say (no expires_in, not a JWT with exp). */
const UNKNOWN_LIFETIME_S = 300;
/**
 * How long before the broker's session ends kafkajs re-authenticates a connection (its
 * `reauthenticationThreshold`, set by kafka-client.ts; kafkajs's own is 10 s). kafkajs does so
 * before every request while the session has less than this left, and a broker refuses a second
 * re-authentication within 1 s (ILLEGAL_SASL_STATE, which stops a consumer): so a token is handed
 * to a connection with more than this left, or the connection fails at once.
 */
export const REAUTH_THRESHOLD_MS = 5_000;
/** What a token handed out has left beyond REAUTH_THRESHOLD_MS (the broker reads exp in whole seconds). */
const HANDED_OUT_MARGIN_MS = 2_000;
/** The least a token handed to a connection has left (a token of 8 s or more always has it). */
const MIN_LEFT_HANDED_OUT_MS = REAUTH_THRESHOLD_MS + HANDED_OUT_MARGIN_MS;
/** The shortest lifetime whose tokens can always be handed out with MIN_LEFT_HANDED_OUT_MS left. */
export const SHORTEST_USABLE_MS = MIN_LEFT_HANDED_OUT_MS + 1000;
/** setTimeout's longest delay: a longer one fires at once (Node clamps it to 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Refresh when 80% of the lifetime has passed (Kafka's sasl.login.refresh.window.factor), and
 * at least this long before expiry, so that a connection re-authenticating near the end of its
 * session is not handed the token that is ending. Never before half the lifetime, so that short
 * tokens are not fetched over and over, unless a token would then be handed out with too little
 * left for kafkajs (REAUTH_THRESHOLD_MS).
 */
const REFRESH_BEFORE_EXPIRY_MS = 20_000;
/** After a failed background refresh, the next try: this long at most, sooner near expiry. */
const RETRY_MAX_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** The token endpoint failed: `refused` when it answered no to the client's credentials. */
export class KafkaTokenError extends TallyError {
  /** kafkajs's retrier reads this: a refusal is not retried inside kafkajs. */
  readonly retriable: boolean;
  constructor(
    message: string,
    hint: string,
    readonly refused: boolean,
    cause?: unknown,
  ) {
    super('kafka-token', message, { hint, exitCode: 2, cause });
    this.name = 'KafkaTokenError';
    this.retriable = !refused;
    recentFailures.delete(message);
    recentFailures.set(message, this);
    if (recentFailures.size > 16) recentFailures.delete(recentFailures.keys().next().value!);
  }
}

/** The last token failures by message: kafka-security-hint.ts finds one kafkajs re-wrapped by text. */
const recentFailures = new Map<string, KafkaTokenError>();

/** The recent token failure whose message `text` contains, if any (its hint and whether refused). */
export function recentTokenFailure(text: string): KafkaTokenError | undefined {
  for (const [message, error] of recentFailures) {
    const at = text.indexOf(message);
    // The whole message: one for client `b` is not found in one for client `bc`.
    if (at >= 0 && !/\w/.test(text.charAt(at + message.length))) return error;
  }
  return undefined;
}

export interface OAuthBearerToken {
  value: string;
  extensions?: Record<string, string>;
}

/**
 * Tokens for SASL/OAUTHBEARER from an OAuth 2.0 token endpoint, client-credentials grant, sent
 * as Kafka's Java client sends it (HTTP Basic with the url-encoded id and secret). One token is
 * shared by every connection of a client and fetched again before it ends, in the background
 * (kafkajs asks only when a connection authenticates, which for a long-lived one is 10 s before
 * its session ends); when a refresh fails, the current token serves until it expires and the
 * refresh is tried again.
 */
export class OAuthTokenSource {
  private current?: { value: string; refreshAt: number; expiresAt: number };
  private pending?: Promise<void>;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private warnedShort = false;

  /** `onShortLived`: told once of a token too short for kafkajs (under SHORTEST_USABLE_MS). */
  constructor(
    private readonly oauth: KafkaOAuth,
    private readonly now: () => number = Date.now,
    private readonly onShortLived?: (lifetimeMs: number) => void,
  ) {}

  /** The token to authenticate a connection with (oauth-bearer-authenticator.ts asks). */
  async token(): Promise<OAuthBearerToken> {
    const t = this.now();
    if (!this.current || t >= this.current.refreshAt) {
      try {
        await this.refreshOnce();
      } catch (err) {
        // The old token serves while it leaves a session above kafkajs's threshold (refreshOnce
        // has set a retry); nearer its end, a connection given it would re-authenticate before
        // every request into ILLEGAL_SASL_STATE, so the endpoint's failure is what is said.
        if (!this.current || this.current.expiresAt - this.now() <= MIN_LEFT_HANDED_OUT_MS) throw err;
      }
    }
    const { extensions } = this.oauth;
    return { value: this.current!.value, ...(extensions ? { extensions } : {}) };
  }

  /** Stops the background refresh (the Kafka client closed). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /**
   * One refresh at a time, shared by every caller meanwhile. A failure while the current token
   * still holds is tried again in the background (once it has expired, the next connection asks,
   * and says why it cannot have one).
   */
  private refreshOnce(): Promise<void> {
    this.pending ??= this.refresh()
      .catch((err: unknown) => {
        const left = (this.current?.expiresAt ?? 0) - this.now();
        if (left > 0) this.refreshLater(Math.min(RETRY_MAX_MS, Math.max(1000, left / 4)));
        throw err;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  private refreshLater(ms: number): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    this.timer = setTimeout(
      () => void this.refreshOnce().catch(() => {}),
      Math.min(MAX_TIMER_MS, Math.max(0, ms)),
    );
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    const { tokenUrl, clientId, clientSecret, scope } = this.oauth;
    const issuedAt = this.now();
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString(
      'base64',
    );
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scope) form.set('scope', scope);
    let res: Response;
    try {
      res = await fetch(tokenUrl, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { message?: string; code?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new KafkaTokenError(
        `cannot get an OAuth token for Kafka from ${tokenUrl}: ${why}`,
        'check kafka.sasl.token_url in tally.yaml (an identity provider with a private CA: NODE_EXTRA_CA_CERTS)',
        false,
        err,
      );
    }
    const text = await res.text().catch(() => '');
    const body = parseJson(text);
    if (!res.ok) {
      const said = [body?.error, body?.error_description].filter((x) => typeof x === 'string').join(': ');
      const refused = res.status === 400 || res.status === 401 || res.status === 403;
      throw new KafkaTokenError(
        `the OAuth token endpoint ${tokenUrl} answered ${res.status} for client ${clientId}${said ? ` (${said.slice(0, 200)})` : ''}`,
        refused
          ? 'check kafka.sasl.client_id, client_secret and scope in tally.yaml'
          : 'the identity provider failed; Tally retries',
        refused,
      );
    }
    const value = body?.access_token;
    if (typeof value !== 'string' || value === '') {
      throw new KafkaTokenError(
        `the OAuth token endpoint ${tokenUrl} answered ${res.status} without an access_token`,
        'check kafka.sasl.token_url: it must be the OAuth 2.0 token endpoint (client-credentials grant)',
        true,
      );
    }
    const lifetimeMs = lifetimeOf(body!.expires_in, value, issuedAt) ?? UNKNOWN_LIFETIME_S * 1000;
    const expiresAt = issuedAt + lifetimeMs;
    const refreshAt = issuedAt + refreshAfterMs(lifetimeMs);
    if (lifetimeMs < SHORTEST_USABLE_MS && !this.warnedShort) {
      this.warnedShort = true;
      this.onShortLived?.(lifetimeMs);
    }
    this.current = { value, expiresAt, refreshAt };
    this.refreshLater(refreshAt - this.now());
  }
}

/** When a token of this lifetime is fetched again, in milliseconds after it was issued. */
export function refreshAfterMs(lifetimeMs: number): number {
  const usual = Math.max(lifetimeMs * 0.5, Math.min(lifetimeMs * 0.8, lifetimeMs - REFRESH_BEFORE_EXPIRY_MS));
  // A token too short for the threshold whatever is done keeps half its life: no IdP request per call.
  return lifetimeMs >= SHORTEST_USABLE_MS ? Math.min(usual, lifetimeMs - MIN_LEFT_HANDED_OUT_MS) : usual;
}

/**
 * Milliseconds the token lives: `expires_in` or the JWT's `exp`, the shorter when both are given
 * (the broker ends the session at `exp`); undefined when neither says.
 */
function lifetimeOf(expiresIn: unknown, token: string, issuedAt: number): number | undefined {
  const seconds = typeof expiresIn === 'string' ? Number(expiresIn) : expiresIn;
  const said =
    typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
  const payload = token.split('.')[1];
  const exp = payload ? parseJson(Buffer.from(payload, 'base64url').toString('utf8'))?.exp : undefined;
  const untilExp = typeof exp === 'number' && exp * 1000 > issuedAt ? exp * 1000 - issuedAt : undefined;
  return said !== undefined && untilExp !== undefined ? Math.min(said, untilExp) : (said ?? untilExp);
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
