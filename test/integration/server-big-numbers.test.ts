import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { createApp } from '../../src/server/create-app.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

/** Numbers a double cannot hold, as ClickHouse writes them; and one that fits. */
const U = '18446744073709551615';
const V = '9007199254740993';
/** The widest integer each server has: Int128's max where it exists, else Int64's min (18.16). */
const I128 = '170141183460469231731687303715884105727';
const I64 = '-9223372036854775808';
const D = '1234567890123456789012345678.0123456789';

const BIG_SQL = `SELECT toUInt64('${U}') AS u, toUInt64(${V}) AS v, toDecimal128('${D}', 10) AS d, toUInt64(3) AS n, 'a "rows": 1' AS rows`;

function files(int128: boolean): Record<string, string> {
  return {
    'tally.yaml': 'name: big-numbers\n',
    'pipes/big.pipe.yaml': `nodes:\n  - name: result\n    sql: ${JSON.stringify(BIG_SQL)}\n`,
    'endpoints/big.endpoint.yaml': 'pipe: big\ncache: 5s\nformats: [json, csv, ndjson]\n',
    'pipes/wide.pipe.yaml': `nodes:\n  - name: result\n    sql: "SELECT ${int128 ? `toInt128('${I128}')` : `toInt64('${I64}')`} AS i"\n`,
    'endpoints/wide.endpoint.yaml': 'pipe: wide\n',
  };
}

afterAll(removeProjects);

forEachBackend('JSON answers keep every digit ClickHouse wrote', (ctx) => {
  let app: ReturnType<typeof createApp>;
  let int128 = false;

  beforeAll(async () => {
    // Int128 came after 18.16; Decimal128 is on every supported version.
    int128 = await ctx.engine.rows('SELECT toInt128(1) AS x').then(
      () => true,
      () => false,
    );
    const project = loadProjectOrThrow(writeProject(files(int128)), { env: {} });
    expect((await applyDeploy(project, ctx.engine)).ok).toBe(true);
    app = createApp({ state: new StateHolder({ project, engine: ctx.engine, version: 'v1' }), tokens: [] });
  });

  it('answers UInt64 past 2^53 and Decimal(38, 10) with their exact digits, from the cache too', async () => {
    const res = await app.request('/v0/pipes/big.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tally-cache')).toBe('miss');
    const text = await res.text();
    expect(text).toMatch(new RegExp(`"u": ?${U}[,\\s}]`));
    expect(text).toMatch(new RegExp(`"v": ?${V}[,\\s}]`));
    expect(text).toMatch(new RegExp(`"d": ?${D.replace('.', '\\.')}[,\\s}]`));
    // Nothing rounded anywhere in the answer.
    expect(text).not.toContain('18446744073709552000');
    expect(text).not.toContain('9007199254740992');

    // The same keys as ever, in the same order; a number that fits is a number.
    const body = JSON.parse(text) as Record<string, unknown> & {
      data: Array<Record<string, unknown>>;
      statistics: Record<string, unknown>;
    };
    expect(Object.keys(body)).toEqual(['meta', 'data', 'rows', 'statistics']);
    expect(body.meta).toEqual([
      { name: 'u', type: 'UInt64' },
      { name: 'v', type: 'UInt64' },
      { name: 'd', type: 'Decimal(38, 10)' },
      { name: 'n', type: 'UInt64' },
      { name: 'rows', type: 'String' },
    ]);
    expect(body.data).toHaveLength(1);
    expect(body.data[0]!.n).toBe(3);
    expect(body.data[0]!.rows).toBe('a "rows": 1');
    expect(body.rows).toBe(1);
    expect(body.statistics).toEqual({
      elapsed: expect.any(Number),
      rows_read: expect.any(Number),
      bytes_read: expect.any(Number),
      freshness_s: null,
    });

    const again = await app.request('/v0/pipes/big.json');
    expect(again.headers.get('x-tally-cache')).toBe('hit');
    expect(await again.text()).toBe(text);
  });

  it('answers the same digits in CSV and NDJSON', async () => {
    const csv = await (await app.request('/v0/pipes/big.csv')).text();
    expect(csv).toContain(`${U},${V},${D},3`);
    const nd = await (await app.request('/v0/pipes/big.ndjson')).text();
    for (const digits of [U, V, D]) expect(nd).toContain(digits);
  });

  it('answers the widest integer the server has (Int128, or Int64 on 18.16) with its exact digits', async () => {
    const res = await app.request('/v0/pipes/wide.json');
    expect(res.status).toBe(200);
    const text = await res.text();
    const digits = int128 ? I128 : I64;
    expect(text).toMatch(new RegExp(`"i": ?"?${digits}"?[,\\s}]`));
    expect(text).not.toMatch(/e\+?(18|38)/);
  });
});
