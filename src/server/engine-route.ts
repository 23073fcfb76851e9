/**
 * `tally dev` on the embedded engine holds the chDB folder, so `tally sql` and `tally quarantine`
 * in another terminal cannot open it; they read through the dev server instead:
 *
 *   GET  /v0/_tally/engine  -> { database, version, description }
 *   POST /v0/_tally/query   { sql, format }  -> ClickHouse's text in that format
 *
 * Read-only (ClickHouse's `readonly = 2`: no INSERT, no DDL), from this machine only (a loopback
 * peer), with an admin token when tokens are configured. Registered by `tally dev` only: `tally
 * serve` never answers arbitrary SQL.
 */
import type { Context, Hono } from 'hono';
import type { TextFormat } from '../clickhouse/engine.ts';
import { isTallyError } from '../errors.ts';
import { requestToken, type TokenAuth } from './auth.ts';
import { HttpError } from './http-error.ts';
import type { StateHolder } from './serving-state.ts';

export const ENGINE_ROUTE = '/v0/_tally';

const FORMATS: readonly TextFormat[] = [
  'JSON',
  'JSONEachRow',
  'JSONCompact',
  'CSVWithNames',
  'TabSeparatedWithNames',
];

export function registerEngineRoute(app: Hono, state: StateHolder, auth: TokenAuth): void {
  app.get(`${ENGINE_ROUTE}/engine`, (c) => {
    guard(c, auth);
    const { engine } = state.get();
    return c.json({
      database: engine.database,
      version: engine.capabilities.version,
      description: engine.description,
    });
  });

  app.post(`${ENGINE_ROUTE}/query`, async (c) => {
    guard(c, auth);
    let body: { sql?: unknown; format?: unknown };
    try {
      body = (await c.req.json()) as typeof body;
    } catch {
      throw new HttpError(400, 'expected a JSON body { sql, format }');
    }
    const { sql, format } = body;
    if (typeof sql !== 'string' || sql.trim() === '') throw new HttpError(400, '`sql` must be a query');
    if (!FORMATS.includes(format as TextFormat)) {
      throw new HttpError(400, `\`format\` must be one of ${FORMATS.join(', ')}`);
    }
    try {
      const text = await state.get().engine.text(sql, format as TextFormat, { settings: { readonly: 2 } });
      return c.text(text);
    } catch (err) {
      // ClickHouse's refusal goes back to the command that asked, as it would have seen it.
      if (isTallyError(err)) return c.json({ error: err.message, code: err.code }, 422);
      throw err;
    }
  });
}

function guard(c: Context, auth: TokenAuth): void {
  const peer = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket
    ?.remoteAddress;
  if (!isLoopback(peer))
    throw new HttpError(403, 'only a process on this machine may read the engine through tally dev');
  if (auth.enabled) auth.check(requestToken(c), { kind: 'admin' });
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
