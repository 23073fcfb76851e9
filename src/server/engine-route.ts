/**
 * `tally dev` on the embedded engine holds the chDB folder, so `tally sql` and `tally quarantine`
 * in another terminal cannot open it; they read through the dev server instead:
 *
 *   GET  /v0/_tally/engine  -> { database, version, description }
 *   POST /v0/_tally/query   { sql, format }  -> ClickHouse's text in that format
 *
 * Who may: whoever can read the secret dev writes beside the folder it holds (folder-server.ts,
 * a file only its owner reads), sent as `X-Tally-Dev-Secret`. Being on this machine is not
 * enough (a forwarded port or a tunnel arrives from loopback too), nor is a browser: a request
 * with an `Origin`, without a JSON content type, or addressed to a host name other than this
 * machine's (DNS rebinding) is refused. What: one statement that answers rows (SELECT, WITH,
 * SHOW, DESCRIBE, EXISTS, EXPLAIN), never `INTO OUTFILE`, run with ClickHouse's `readonly = 2`.
 * Registered by `tally dev` on the embedded engine only.
 */
import type { Context, Hono } from 'hono';
import type { TextFormat } from '../clickhouse/engine.ts';
import { isTallyError } from '../errors.ts';
import { queryShape } from '../sql/query-shape.ts';
import { isLoopbackHost } from '../util/loopback-host.ts';
import { matchesDigest, secretDigest } from './auth.ts';
import { HttpError } from './http-error.ts';
import type { StateHolder } from './serving-state.ts';

export const ENGINE_ROUTE = '/v0/_tally';
/** The request header that carries the secret of the server file. */
export const DEV_SECRET_HEADER = 'x-tally-dev-secret';

const FORMATS: readonly TextFormat[] = [
  'JSON',
  'JSONEachRow',
  'JSONCompact',
  'CSVWithNames',
  'TabSeparatedWithNames',
];

export function registerEngineRoute(app: Hono, state: StateHolder, secret: string): void {
  const expected = secretDigest(secret);
  app.get(`${ENGINE_ROUTE}/engine`, (c) => {
    guard(c, expected);
    const { engine } = state.get();
    return c.json({
      database: engine.database,
      version: engine.capabilities.version,
      description: engine.description,
    });
  });

  app.post(`${ENGINE_ROUTE}/query`, async (c) => {
    guard(c, expected);
    if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
      throw new HttpError(415, 'send { sql, format } as application/json');
    }
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
    const shape = queryShape(sql);
    if (shape.statements !== 1 || !shape.returnsRows || shape.ownFormat || shape.writesFile) {
      throw new HttpError(
        400,
        'tally dev reads for other commands: one statement that answers rows (SELECT, WITH, SHOW, DESCRIBE, EXISTS, EXPLAIN), without FORMAT or INTO OUTFILE',
      );
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

function guard(c: Context, expected: Buffer): void {
  // Browsers send Origin with every cross-origin request (and with POSTs): none of ours does.
  if (c.req.header('origin') !== undefined || c.req.header('sec-fetch-site') !== undefined) {
    throw new HttpError(403, 'not for browsers: tally sql and tally quarantine read here');
  }
  const host = (c.req.header('host') ?? '').replace(/:\d+$/, '');
  if (!isLoopbackHost(host)) {
    throw new HttpError(403, `not for host ${JSON.stringify(host)}: only this machine's loopback names`);
  }
  const presented = c.req.header(DEV_SECRET_HEADER);
  if (presented === undefined || !matchesDigest(presented, expected)) {
    throw new HttpError(403, `needs ${DEV_SECRET_HEADER} from the server file beside the data folder`);
  }
}
