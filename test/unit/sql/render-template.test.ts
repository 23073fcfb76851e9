import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { Param, TemplatePart } from '../../../src/project/model.ts';
import { ParamError } from '../../../src/sql/param-error.ts';
import { resolveParams } from '../../../src/sql/parse-param-value.ts';
import { renderTemplate } from '../../../src/sql/render-template.ts';
import { ex, ifPart, param, pipe, tpl, ty } from './helpers.ts';

const OLD = capabilitiesFor('18.16.1');
const NEW = capabilitiesFor('26.7.2.1');

function render(
  parts: TemplatePart[],
  params: Param[],
  raw: Record<string, unknown>,
  values: 'literal' | 'params' = 'literal',
) {
  const p = pipe('p', params, []);
  return renderTemplate(parts, p.params, resolveParams(p, raw), {
    capabilities: values === 'params' ? NEW : OLD,
    values,
  });
}

const sql = (parts: TemplatePart[], params: Param[], raw: Record<string, unknown>) =>
  render(parts, params, raw).sql;

describe('renderTemplate: an Array param after IN', () => {
  const ids = [param('ids', ty('Array', ty('String'))), param('n', ty('Array', ty('Int32')))];

  it('renders a list, which every server takes (18.16 refuses an array after IN)', () => {
    expect(sql(tpl('SELECT 1 FROM t WHERE id IN {{ ids }}'), ids, { ids: ['a', "b'"] })).toBe(
      "SELECT 1 FROM t WHERE id IN ('a', 'b\\'')",
    );
    expect(sql(tpl('WHERE x not in\n  {{ n }} AND y GLOBAL IN {{ n }}'), ids, { n: ['7'] })).toBe(
      'WHERE x not in\n  (toInt32(7)) AND y GLOBAL IN (toInt32(7))',
    );
  });

  it('renders the empty set as (NULL), and an array anywhere else as an array', () => {
    expect(sql(tpl('WHERE id IN {{ ids }}'), ids, { ids: [] })).toBe('WHERE id IN (NULL)');
    expect(sql(tpl('WHERE has({{ ids }}, id) AND min IN_RANGE {{ n }}'), ids, { ids: ['a'], n: ['1'] })).toBe(
      "WHERE has(['a'], id) AND min IN_RANGE [toInt32(1)]",
    );
    expect(sql(tpl('WHERE id JOIN_IN {{ ids }}'), ids, { ids: ['a'] })).toBe("WHERE id JOIN_IN ['a']");
  });

  it('leaves a placeholder to servers that take query parameters', () => {
    expect(render(tpl('WHERE id IN {{ ids }}'), ids, { ids: ['a'] }, 'params').sql).toBe(
      'WHERE id IN {ids:Array(String)}',
    );
  });
});

describe('renderTemplate: values', () => {
  const params = [
    param('account', ty('String'), { required: true }),
    param('limit', ty('UInt32'), { default: 10 }),
  ];

  it('renders {{ p }} as a literal of its type, defaults included', () => {
    const out = render(tpl('SELECT * FROM t WHERE a = {{ account }} LIMIT {{ limit }}'), params, {
      account: "x' OR 1=1 --",
    });
    expect(out.sql).toBe("SELECT * FROM t WHERE a = 'x\\' OR 1=1 --' LIMIT 10");
    expect(out.params).toEqual({});
    expect(out.literalBytes.get('account')).toBe("'x\\' OR 1=1 --'".length);
  });

  it('renders {{ p }} as a query parameter in params mode', () => {
    const out = render(
      tpl('SELECT {{ account }}, {{ limit }}, {{ account }}'),
      params,
      { account: 'a' },
      'params',
    );
    expect(out.sql).toBe('SELECT {account:String}, {limit:UInt32}, {account:String}');
    expect(out.params).toEqual({ account: 'a', limit: 10 });
  });

  it('sends each type so the server reads the same value as the literal', () => {
    const ps = [
      param('i', ty('Int64')),
      param('f', ty('Float32')),
      param('d', ty('Decimal', 18, 2)),
      param('b', ty('Bool')),
      param('day', ty('Date')),
      param('t', ty('DateTime')),
      param('n', ty('Nullable', ty('String'))),
      param('ts', ty('Array', ty('DateTime'))),
      param('ds', ty('Array', ty('Decimal', 9, 1))),
    ];
    const out = render(
      tpl('SELECT {{i}}, {{f}}, {{d}}, {{b}}, {{day}}, {{t}}, {{n}}, {{ts}}, {{ds}}'),
      ps,
      {
        i: '-9223372036854775808',
        f: '0.5',
        d: '1.5',
        b: 'true',
        day: '2024-03-11',
        t: '0',
        n: null,
        ts: ['1970-01-01 00:00:10'],
        ds: ['1.5'],
      },
      'params',
    );
    expect(out.sql).toBe(
      "SELECT {i:Int64}, {f:Float32}, {d:Decimal(18, 2)}, {b:Bool}, {day:Date}, {t:DateTime}, {n:Nullable(String)}, {ts:Array(DateTime)}, [CAST('1.5' AS Decimal(9, 1))]",
    );
    expect(out.params).toEqual({
      i: -9223372036854775808n,
      f: '0.5',
      d: '1.5',
      b: true,
      day: '2024-03-11',
      t: '0000000000',
      n: null,
      ts: [10],
    });
  });

  it('writes numbers bare where ClickHouse takes only a number literal', () => {
    const ps = [
      param('n', ty('UInt32'), { default: 10 }),
      param('skip', ty('UInt64'), { default: 5 }),
      param('q', ty('Float64'), { default: 0.9 }),
      param('ids', ty('Array', ty('UInt32')), { default: [1] }),
    ];
    const text =
      'SELECT quantile({{ q }})(x), quantiles(0.5, {{ q }})(x), round(x, {{ n }}), x IN ({{ n }}, {{ skip }}), {{ ids }}\n' +
      'FROM t SAMPLE {{ q }} LIMIT {{ n }} BY x LIMIT {{ skip }}, {{ n }} OFFSET {{ skip }}';
    expect(render(tpl(text), ps, {}).sql).toBe(
      'SELECT quantile(0.9)(x), quantiles(0.5, 0.9)(x), round(x, toUInt32(10)), x IN (toUInt32(10), toUInt64(5)), [toUInt32(1)]\n' +
        'FROM t SAMPLE 0.9 LIMIT 10 BY x LIMIT 5, 10 OFFSET 5',
    );
    const out = render(tpl('SELECT {{ n }} AS n FROM t LIMIT {{ n }} OFFSET {{ skip }}'), ps, {}, 'params');
    expect(out.sql).toBe('SELECT {n:UInt32} AS n FROM t LIMIT 10 OFFSET 5');
    expect(out.params).toEqual({ n: 10 });
    expect(render(tpl('SELECT 1 LIMIT 2, {{ n }}'), ps, {}).sql).toBe('SELECT 1 LIMIT 2, 10');
    expect(render(tpl("SELECT 'LIMIT', {{ n }}"), ps, {}).sql).toBe("SELECT 'LIMIT', toUInt32(10)");
  });

  it('a negative number written bare after a minus never makes `--`, which would comment out the rest of the line', () => {
    const ps = [param('q', ty('Float64'), { default: 0.9 })];
    for (const mode of ['literal', 'params'] as const) {
      const sql = render(
        tpl('SELECT quantile(1-{{ q }})(x) FROM t WHERE tenant = 1'),
        ps,
        { q: '-0.5' },
        mode,
      ).sql;
      expect(sql).toBe('SELECT quantile(1- -0.5)(x) FROM t WHERE tenant = 1');
      expect(sql).not.toContain('--');
    }
  });

  it('refuses params mode on a server without query parameters', () => {
    const p = pipe('p', params, []);
    expect(() =>
      renderTemplate(tpl('SELECT 1'), p.params, resolveParams(p, { account: 'a' }), {
        capabilities: OLD,
        values: 'params',
      }),
    ).toThrow(/no query parameters/);
  });

  it('defaults to the mode the server supports', () => {
    const p = pipe('p', params, []);
    const r = resolveParams(p, { account: 'a' });
    expect(renderTemplate(tpl('{{ account }}'), p.params, r, { capabilities: OLD }).sql).toBe("'a'");
    expect(renderTemplate(tpl('{{ account }}'), p.params, r, { capabilities: NEW }).sql).toBe(
      '{account:String}',
    );
  });

  it('a param with no value in {{ }} is a ParamError naming it', () => {
    const ps = [param('as_of', ty('DateTime'))];
    const p = pipe('p', ps, []);
    let err: unknown;
    try {
      renderTemplate(tpl('SELECT {{ as_of }}'), p.params, resolveParams(p, {}), {
        capabilities: OLD,
        node: 'movements',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParamError);
    expect(err).toMatchObject({
      code: 'missing-param',
      param: 'as_of',
      message:
        'param "as_of" has no value, and node movements uses {{ as_of }} outside {% if defined(as_of) %}; expected DateTime as YYYY-MM-DD hh:mm:ss (UTC), ISO-8601 with Z or an offset, or epoch seconds',
    });
  });

  it('a param the pipe does not declare is the project’s error', () => {
    expect(() => sql(tpl('SELECT {{ nope }}'), [], {})).toThrow(
      expect.objectContaining({ code: 'undeclared-param' }),
    );
  });
});

describe('renderTemplate: {% if %}', () => {
  const ps = [
    param('as_of', ty('DateTime')),
    param('limit', ty('UInt32'), { default: 10 }),
    param('mode', ty('String'), { default: 'all' }),
    param('amount', ty('Decimal', 18, 2)),
    param('flag', ty('Bool')),
    param('big', ty('UInt64')),
  ];
  const filter = (cond: Parameters<typeof ex.not>[0]) => [
    ...tpl('SELECT 1'),
    ifPart([[cond, tpl(' YES')]], tpl(' NO')),
  ];

  it('defined(p): true only when the request gave p, not for a default', () => {
    const parts = [
      ...tpl('SELECT x FROM t WHERE 1'),
      ifPart([[ex.defined('as_of'), tpl(' AND ts <= {{ as_of }}')]]),
      ifPart([[ex.defined('limit'), tpl(' LIMIT {{ limit }}')]], tpl(' LIMIT 1')),
    ];
    expect(sql(parts, ps, {})).toBe('SELECT x FROM t WHERE 1 LIMIT 1');
    expect(sql(parts, ps, { as_of: '2024-03-11 12:30:45', limit: '5' })).toBe(
      'SELECT x FROM t WHERE 1 AND ts <= toDateTime(1710160245) LIMIT 5',
    );
  });

  it('elif and else pick the first true branch', () => {
    const parts = [
      ifPart(
        [
          [ex.cmp(ex.param('mode'), '==', ex.lit('debit')), tpl('amount < 0')],
          [ex.cmp(ex.param('mode'), '==', ex.lit('credit')), tpl('amount > 0')],
        ],
        tpl('1'),
      ),
    ];
    expect(sql(parts, ps, {})).toBe('1');
    expect(sql(parts, ps, { mode: 'debit' })).toBe('amount < 0');
    expect(sql(parts, ps, { mode: 'credit' })).toBe('amount > 0');
  });

  it('not, and, or', () => {
    expect(sql(filter(ex.not(ex.defined('as_of'))), ps, {})).toBe('SELECT 1 YES');
    expect(sql(filter(ex.and(ex.defined('as_of'), ex.defined('flag'))), ps, { as_of: '0' })).toBe(
      'SELECT 1 NO',
    );
    expect(sql(filter(ex.or(ex.defined('as_of'), ex.defined('flag'))), ps, { as_of: '0' })).toBe(
      'SELECT 1 YES',
    );
  });

  it('truthiness of a param: a missing value, false, 0 and "" are false', () => {
    expect(sql(filter(ex.param('flag')), ps, {})).toBe('SELECT 1 NO');
    expect(sql(filter(ex.param('flag')), ps, { flag: 'false' })).toBe('SELECT 1 NO');
    expect(sql(filter(ex.param('flag')), ps, { flag: '1' })).toBe('SELECT 1 YES');
    expect(sql(filter(ex.param('limit')), ps, { limit: '0' })).toBe('SELECT 1 NO');
    expect(sql(filter(ex.param('mode')), ps, { mode: '' })).toBe('SELECT 1 NO');
  });

  it('compares a param with a literal read as the param’s type', () => {
    const gt100 = filter(ex.cmp(ex.param('limit'), '>', ex.lit(100)));
    expect(sql(gt100, ps, { limit: '101' })).toBe('SELECT 1 YES');
    expect(sql(gt100, ps, { limit: '100' })).toBe('SELECT 1 NO');
    expect(sql(filter(ex.cmp(ex.lit(100), '<=', ex.param('limit'))), ps, { limit: '100' })).toBe(
      'SELECT 1 YES',
    );
    const since = filter(ex.cmp(ex.param('as_of'), '>=', ex.lit('2024-01-01T00:00:00Z')));
    expect(sql(since, ps, { as_of: '2024-01-01 00:00:00' })).toBe('SELECT 1 YES');
    expect(sql(since, ps, { as_of: '2023-12-31T23:59:59Z' })).toBe('SELECT 1 NO');
    // Decimal compares exactly, not as text ("9.5" > "10" as text).
    expect(sql(filter(ex.cmp(ex.param('amount'), '<', ex.lit('10'))), ps, { amount: '9.5' })).toBe(
      'SELECT 1 YES',
    );
    expect(sql(filter(ex.cmp(ex.param('amount'), '==', ex.lit(1.5))), ps, { amount: '1.50' })).toBe(
      'SELECT 1 YES',
    );
    expect(
      sql(filter(ex.cmp(ex.param('big'), '>', ex.lit(9007199254740991))), ps, { big: '9007199254740992' }),
    ).toBe('SELECT 1 YES');
    expect(sql(filter(ex.cmp(ex.param('flag'), '!=', ex.lit(true))), ps, { flag: '0' })).toBe('SELECT 1 YES');
  });

  it('a missing value equals only null and is not ordered', () => {
    expect(sql(filter(ex.cmp(ex.param('as_of'), '==', ex.lit(null))), ps, {})).toBe('SELECT 1 YES');
    expect(sql(filter(ex.cmp(ex.param('as_of'), '!=', ex.lit(null))), ps, {})).toBe('SELECT 1 NO');
    expect(sql(filter(ex.cmp(ex.param('as_of'), '<', ex.lit('2024-01-01 00:00:00'))), ps, {})).toBe(
      'SELECT 1 NO',
    );
    expect(sql(filter(ex.cmp(ex.param('as_of'), '>=', ex.lit('2024-01-01 00:00:00'))), ps, {})).toBe(
      'SELECT 1 NO',
    );
    expect(sql(filter(ex.cmp(ex.param('as_of'), '!=', ex.lit('2024-01-01 00:00:00'))), ps, {})).toBe(
      'SELECT 1 YES',
    );
  });

  it('a literal that is not of the param’s type is an error at the tag', () => {
    expect(() => sql(filter(ex.cmp(ex.param('limit'), '>', ex.lit('many'))), ps, {})).toThrow(
      expect.objectContaining({
        code: 'template-compare',
        message: 'cannot compare param "limit" (UInt32) with "many": it is not a UInt32',
      }),
    );
  });

  it('the untaken branch is not rendered, so its params need no value', () => {
    const parts = [ifPart([[ex.defined('as_of'), tpl('{{ as_of }}')]], tpl('now()'))];
    expect(sql(parts, ps, {})).toBe('now()');
  });
});
