// Escaping, proven on the real engines: values rendered by Tally (as literals, or as server-side
// query parameters where the server has them) read back exactly. Random strings come from a
// seeded PRNG, so every run tests the same values. Invalid UTF-8 cannot be written in a JS
// string at all (and unpaired surrogates are refused before rendering), so it is not generated.
import { expect, it } from 'vitest';
import type { Param, TemplatePart } from '../../src/project/model.ts';
import { compareDecimal } from '../../src/sql/coerce-value.ts';
import { paramType, typeSql } from '../../src/sql/param-type.ts';
import { resolveParams } from '../../src/sql/parse-param-value.ts';
import { renderTemplate, type ValueMode } from '../../src/sql/render-template.ts';
import { forEachBackend } from '../support/backends.ts';
import { param, pipe, tpl, ty } from '../unit/sql/helpers.ts';

const SEED = 0x7a11e;
const RANDOM_STRINGS = 20_000;
/** Literal SQL per query stays well under ClickHouse's max_query_size (256 KiB). */
const BATCH_BYTES = 150_000;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "'",
  '"',
  '`',
  '\\',
  '\0',
  '\n',
  '\r',
  '\t',
  '\r\n',
  '*/',
  '/*',
  '--',
  '#',
  ';',
  '{{',
  '}}',
  '{%',
  '%}',
  '%',
  '%s',
  '$',
  '$1',
  '?',
  ':p',
  "\\'",
  "''",
  '\\\\',
  '\\N',
  '\\0',
  '\\x00',
  '{p:String}',
  '{x:UInt8}',
  'NULL',
  ')',
  '(',
  ' FROM t',
  'SELECT',
  '\u2028',
  '\u2029',
  '\uFEFF',
  '\u202E',
  '\u00A0',
  'ʼ',
  '＇',
  '\u0300',
];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇩🇪', '🦄', '𝄞', '𠜎', '\u{10FFFF}', '\u{E0001}'];

function randomString(rng: () => number): string {
  const r = rng();
  const length =
    r < 0.04
      ? 0
      : r < 0.75
        ? 1 + Math.floor(rng() * 20)
        : r < 0.97
          ? 20 + Math.floor(rng() * 300)
          : 300 + Math.floor(rng() * 4000);
  let s = '';
  while (s.length < length) s += randomPiece(rng);
  return s;
}

function randomPiece(rng: () => number): string {
  const r = rng();
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng() * xs.length)]!;
  if (r < 0.25) return pick(PIECES);
  if (r < 0.45) return String.fromCharCode(32 + Math.floor(rng() * 95));
  if (r < 0.55) {
    const c = Math.floor(rng() * 33);
    return String.fromCharCode(c === 32 ? 127 : c);
  }
  if (r < 0.72) {
    // Any BMP code point except the surrogate range.
    let c = 0x80 + Math.floor(rng() * (0xffff - 0x80 - 0x800));
    if (c >= 0xd800) c += 0x800;
    return String.fromCharCode(c);
  }
  if (r < 0.85) return String.fromCodePoint(0x10000 + Math.floor(rng() * 0x100000));
  return pick(EMOJI);
}

/** Deterministic corpus: fixed awkward strings, then random ones, then a few long ones. */
function stringCorpus(): string[] {
  const rng = mulberry32(SEED);
  const fixed = [
    '',
    ' ',
    "'",
    "''",
    '\\',
    '\\\\',
    "\\'",
    "'\\",
    '\0',
    '\0\0',
    'a\0b',
    '\n',
    '\r\n',
    '\t',
    '*/',
    '/*',
    '--',
    '{{ s }}',
    '%',
    '$',
    '`',
    '"',
    String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i), 127),
    Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join(''),
    '\u{1F600}\u{1F600}',
    '\uFFFF',
    '\uFFFE',
    '\u{10FFFF}',
    'é'.normalize('NFD'),
    "' OR 1=1 --",
    "'); DROP TABLE x; --",
  ];
  const random = Array.from({ length: RANDOM_STRINGS }, () => randomString(rng));
  // Long strings: ~60 KB of UTF-8 each, up to the 64 KiB String param limit.
  const long = Array.from({ length: 6 }, (_, k) => {
    let s = '';
    while (Buffer.byteLength(s) < 60_000 - 200)
      s += k % 2 ? randomPiece(rng) : String.fromCharCode(32 + Math.floor(rng() * 95));
    return s;
  });
  return [...fixed, ...random, ...long];
}

const CORPUS = stringCorpus();

/** `SELECT [{{ s0 }}, {{ s1 }}, ...] AS v` over batches whose literals fit in one query. */
function batches(values: readonly string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const v of values) {
    const b = Buffer.byteLength(v) * 2 + 16;
    if (cur.length > 0 && (bytes + b > BATCH_BYTES || cur.length >= 1000)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(v);
    bytes += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

interface Case {
  name: string;
  type: ReturnType<typeof ty>;
  value: unknown;
}

function renderCases(
  cases: readonly Case[],
  select: (i: number, c: Case) => string,
  caps: Caps,
  values: ValueMode,
) {
  const params: Param[] = cases.map((c, i) => param(`p${i}`, c.type));
  const text = `SELECT ${cases.map((c, i) => select(i, c)).join(', ')}`;
  const p = pipe('edges', params, []);
  const raw = Object.fromEntries(cases.map((c, i) => [`p${i}`, c.value]));
  return renderTemplate(tpl(text), p.params, resolveParams(p, raw), { capabilities: caps, values });
}

type Caps = Parameters<typeof renderTemplate>[3]['capabilities'];

forEachBackend('escaping', (ctx) => {
  const modes = (): ValueMode[] =>
    ctx.engine.capabilities.queryParams ? ['literal', 'params'] : ['literal'];

  it(`random strings read back exactly (${CORPUS.length} per mode)`, async () => {
    const started = Date.now();
    for (const mode of modes()) {
      let checked = 0;
      for (const batch of batches(CORPUS)) {
        const params = batch.map((_, i) => param(`s${i}`, ty('String')));
        const p = pipe('strings', params, []);
        const parts: TemplatePart[] = tpl(`SELECT [${batch.map((_, i) => `{{ s${i} }}`).join(', ')}] AS v`);
        const raw = Object.fromEntries(batch.map((s, i) => [`s${i}`, s]));
        const r = renderTemplate(parts, p.params, resolveParams(p, raw), {
          capabilities: ctx.engine.capabilities,
          values: mode,
        });
        if (mode === 'literal') expect(Buffer.byteLength(r.sql)).toBeLessThan(262_144);
        const rows = await ctx.engine.rows<{ v: string[] }>(r.sql, { params: r.params });
        const got = rows[0]!.v;
        expect(got.length).toBe(batch.length);
        for (let i = 0; i < batch.length; i++) {
          if (got[i] !== batch[i])
            expect({ mode, index: checked + i, got: got[i] }).toEqual({
              mode,
              index: checked + i,
              got: batch[i],
            });
        }
        checked += batch.length;
      }
      expect(checked).toBe(CORPUS.length);
    }
    console.log(
      `[${ctx.backend}] ${CORPUS.length} strings x ${modes().join('+')} in ${Date.now() - started} ms`,
    );
  });

  it('strings inside arrays, nested, empty, and with NULLs read back exactly', async () => {
    const nasty = CORPUS.slice(0, 60);
    const cases: Case[] = [
      { name: 'empty', type: ty('Array', ty('String')), value: [] },
      { name: 'one empty string', type: ty('Array', ty('String')), value: [''] },
      { name: 'nasty', type: ty('Array', ty('String')), value: nasty },
      {
        name: 'nested',
        type: ty('Array', ty('Array', ty('String'))),
        value: [[], ["a'b", '\\'], [], nasty.slice(5, 15)],
      },
      { name: 'nested empty', type: ty('Array', ty('Array', ty('String'))), value: [] },
      {
        name: 'nullable items',
        type: ty('Array', ty('Nullable', ty('String'))),
        value: [null, "'", null, '\0'],
      },
      { name: 'only nulls', type: ty('Array', ty('Nullable', ty('String'))), value: [null] },
      { name: 'null', type: ty('Nullable', ty('String')), value: null },
      { name: 'not null', type: ty('Nullable', ty('String')), value: "it's" },
    ];
    for (const mode of modes()) {
      const r = renderCases(
        cases,
        (i) => `{{ p${i} }} AS v${i}, toTypeName(v${i}) AS t${i}`,
        ctx.engine.capabilities,
        mode,
      );
      const row = (await ctx.engine.rows<Record<string, unknown>>(r.sql, { params: r.params }))[0]!;
      cases.forEach((c, i) => {
        expect({ mode, case: c.name, v: row[`v${i}`], t: row[`t${i}`] }).toEqual({
          mode,
          case: c.name,
          v: c.value,
          t: typeSql(paramType(c.type), ctx.engine.capabilities),
        });
      });
    }
  });

  it('edge values of every numeric, date and boolean type read back exactly, with the declared type', async () => {
    const caps = ctx.engine.capabilities;
    const utc = /^(Etc\/)?UTC$/.test(
      (await ctx.engine.rows<{ tz: string }>('SELECT timezone() AS tz'))[0]!.tz,
    );
    const cases = numericCases(caps.major >= 21);
    const outputs: string[] = [];
    for (const mode of modes()) {
      const r = renderCases(
        cases,
        (i, c) => `{{ p${i} }} AS v${i}, toTypeName(v${i}) AS t${i}${extra(i, c)}`,
        caps,
        mode,
      );
      const text = await ctx.engine.text(r.sql, 'TabSeparatedWithNames', { params: r.params });
      outputs.push(text);
      const [head, line] = text.trimEnd().split('\n');
      const names = head!.split('\t');
      const vals = line!.split('\t');
      const get = (n: string) => {
        const k = names.indexOf(n);
        return k === -1 ? undefined : unescapeTsv(vals[k]!);
      };
      cases.forEach((c, i) => {
        const got = get(`v${i}`)!;
        const where = `${mode} ${c.name} = ${String(c.value)}: got ${got}`;
        expect(get(`t${i}`), where).toBe(typeSql(paramType(c.type), caps));
        checkValue(c, got, get(`n${i}`), where, ctx.backend, utc);
      });
    }
    // Literal and query-parameter values give the same answers.
    if (outputs.length === 2) expect(outputs[1]).toBe(outputs[0]);
  });

  it('arrays of every element type, empty and not', async () => {
    const caps = ctx.engine.capabilities;
    const cases: Case[] = [
      {
        name: 'Int64',
        type: ty('Array', ty('Int64')),
        value: ['-9223372036854775808', '9223372036854775807', '0'],
      },
      { name: 'UInt64 empty', type: ty('Array', ty('UInt64')), value: [] },
      { name: 'Int8', type: ty('Array', ty('Int8')), value: [-128, 127] },
      { name: 'Float64', type: ty('Array', ty('Float64')), value: [0.1, -1.5e300, 5e-324] },
      { name: 'Decimal', type: ty('Array', ty('Decimal', 18, 2)), value: ['1.5', '-9999999999999999.99'] },
      { name: 'Date', type: ty('Array', ty('Date')), value: ['1970-01-02', '2105-12-31'] },
      {
        name: 'DateTime',
        type: ty('Array', ty('DateTime')),
        value: ['1970-01-01 00:00:01', '2105-12-31 23:59:59'],
      },
      { name: 'Bool', type: ty('Array', ty('Bool')), value: [true, false] },
      { name: 'Nullable Int32', type: ty('Array', ty('Nullable', ty('Int32'))), value: [null, -5] },
      { name: 'nested Int32', type: ty('Array', ty('Array', ty('Int32'))), value: [[1], [], [2, 3]] },
    ];
    const outputs: string[] = [];
    for (const mode of modes()) {
      const r = renderCases(
        cases,
        (i) => `arrayMap(x -> toString(x), {{ p${i} }}) AS v${i}, toTypeName({{ p${i} }}) AS t${i}`,
        caps,
        mode,
      );
      const res = await ctx.engine.query<Record<string, unknown>>(r.sql, { params: r.params });
      outputs.push(JSON.stringify(res.data));
      const row = res.data[0]!;
      cases.forEach((c, i) => {
        const where = `${mode} ${c.name}`;
        expect(row[`t${i}`], where).toBe(typeSql(paramType(c.type), caps));
        const got = row[`v${i}`] as unknown[];
        const want = (c.value as unknown[]).map((x) => arrayItemText(c.name, x, caps.boolType));
        if (c.name === 'Float64') expect(got.map(Number), where).toEqual(c.value);
        else if (c.name === 'Decimal')
          expect(
            got.map((g, k) => compareDecimal(String(g), String(want[k]))),
            where,
          ).toEqual([0, 0]);
        else if (c.name === 'nested Int32') expect(got, where).toEqual(['[1]', '[]', '[2,3]']);
        else expect(got, where).toEqual(want);
      });
    }
    if (outputs.length === 2) expect(outputs[1]).toBe(outputs[0]);
  });
});

function unescapeTsv(s: string): string {
  const map: Record<string, string> = { t: '\t', n: '\n', '0': '\0', '\\': '\\', "'": "'" };
  return s.replace(/\\(.)/g, (_, c: string) => map[c] ?? c);
}

function arrayItemText(name: string, x: unknown, boolType: boolean): unknown {
  if (x === null) return null;
  if (name === 'Bool') return boolType ? String(x) : x ? '1' : '0';
  return String(x);
}

/** Extra columns that read a value exactly where its text may not: epoch numbers of dates. */
function extra(i: number, c: Case): string {
  const kind = paramType(c.type).kind;
  if (kind === 'date') return `, toUInt16(v${i}) AS n${i}`;
  if (kind === 'datetime') return `, toUInt32(v${i}) AS n${i}`;
  return '';
}

/** Checks one edge value; DateTime text is compared only when the server prints in UTC (`utc`). */
function checkValue(
  c: Case,
  got: string,
  num: string | undefined,
  where: string,
  backend: string,
  utc: boolean,
): void {
  const t = paramType(c.type);
  switch (t.kind) {
    case 'int':
      expect(got, where).toBe(String(c.value));
      break;
    case 'float':
      if (t.bits === 32) expect(Math.fround(Number(got)), where).toBe(Math.fround(Number(c.value)));
      else expect(Number(got), where).toBe(Number(c.value) === 0 ? 0 : Number(c.value));
      break;
    case 'decimal':
      expect(compareDecimal(got, String(c.value)), where).toBe(0);
      break;
    case 'bool':
      expect(['1', 'true'].includes(got), where).toBe(c.value === true);
      break;
    case 'date': {
      const days = Date.parse(`${String(c.value)}T00:00:00Z`) / 86_400_000;
      expect(Number(num), where).toBe(days);
      // 18.16 prints day 0 (1970-01-01) as 0000-00-00; the value itself is right (checked above).
      if (!(backend === 'server' && days === 0)) expect(got, where).toBe(c.value);
      break;
    }
    case 'datetime': {
      const epoch = Date.parse(`${String(c.value).replace(' ', 'T')}Z`) / 1000;
      expect(Number(num), where).toBe(epoch);
      if (utc && t.timezone === undefined && !(backend === 'server' && epoch === 0))
        expect(got, where).toBe(c.value);
      break;
    }
    default:
      throw new Error(`no check for ${t.kind}`);
  }
}

function numericCases(wideInts: boolean): Case[] {
  const cases: Case[] = [];
  const ints: Array<[string, bigint, bigint]> = [
    ['Int8', -(2n ** 7n), 2n ** 7n - 1n],
    ['Int16', -(2n ** 15n), 2n ** 15n - 1n],
    ['Int32', -(2n ** 31n), 2n ** 31n - 1n],
    ['Int64', -(2n ** 63n), 2n ** 63n - 1n],
    ['UInt8', 0n, 2n ** 8n - 1n],
    ['UInt16', 0n, 2n ** 16n - 1n],
    ['UInt32', 0n, 2n ** 32n - 1n],
    ['UInt64', 0n, 2n ** 64n - 1n],
  ];
  if (wideInts) {
    ints.push(
      ['Int128', -(2n ** 127n), 2n ** 127n - 1n],
      ['UInt256', 0n, 2n ** 256n - 1n],
      ['Int256', -(2n ** 255n), 2n ** 255n - 1n],
    );
  }
  for (const [name, min, max] of ints) {
    for (const v of [min, max, min + 1n, max - 1n, 0n, 1n, max / 3n])
      cases.push({ name, type: ty(name), value: String(v) });
    if (min < 0n) cases.push({ name, type: ty(name), value: '-1' });
  }
  const f64 = [
    0,
    -0,
    1,
    -1,
    0.1,
    1 / 3,
    Math.PI,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Number.MIN_VALUE,
    -Number.MIN_VALUE,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    1e-310,
    Number.EPSILON,
    2 ** 53,
    2 ** 53 + 2,
    1e21,
    1e-7,
    123456789.12345679,
    2 ** 53 + 1, // not a double: reads as 2^53
    4.35e-321,
  ];
  const rng = mulberry32(SEED + 1);
  const buf = new DataView(new ArrayBuffer(8));
  for (let k = 0; k < 40; k++) {
    buf.setUint32(0, Math.floor(rng() * 2 ** 32));
    buf.setUint32(4, Math.floor(rng() * 2 ** 32));
    const x = buf.getFloat64(0);
    if (Number.isFinite(x)) f64.push(x);
    f64.push((rng() - 0.5) * 10 ** Math.floor(rng() * 40 - 20));
  }
  for (const v of f64) cases.push({ name: 'Float64', type: ty('Float64'), value: v });
  for (const v of [
    0,
    0.1,
    -0.1,
    3.4028234663852886e38,
    -3.4028234663852886e38,
    1.1754943508222875e-38,
    1.401298464324817e-45,
    16777217,
    1 / 3,
  ]) {
    cases.push({ name: 'Float32', type: ty('Float32'), value: v });
  }
  const decimals: Array<[number, number, string[]]> = [
    [9, 2, ['9999999.99', '-9999999.99', '0.01', '-0.01', '0']],
    [18, 2, ['9999999999999999.99', '-9999999999999999.99', '12.34']],
    [18, 0, ['999999999999999999', '-999999999999999999']],
    [
      38,
      10,
      ['9999999999999999999999999999.9999999999', '-9999999999999999999999999999.9999999999', '0.0000000001'],
    ],
    [38, 0, ['99999999999999999999999999999999999999', '-99999999999999999999999999999999999999']],
    [38, 38, ['0.99999999999999999999999999999999999999', '-0.00000000000000000000000000000000000001']],
    [1, 0, ['9', '-9']],
    [9, 9, ['0.999999999', '-0.000000001']],
  ];
  for (const [p, s, vs] of decimals)
    for (const v of vs) cases.push({ name: `Decimal(${p}, ${s})`, type: ty('Decimal', p, s), value: v });
  for (const v of ['1970-01-01', '1970-01-02', '2000-02-29', '2038-01-19', '2105-12-31'])
    cases.push({ name: 'Date', type: ty('Date'), value: v });
  for (const v of [
    '1970-01-01 00:00:00',
    '1970-01-01 00:00:01',
    '2038-01-19 03:14:08',
    '2024-03-11 12:30:45',
    '2105-12-31 23:59:59',
  ]) {
    cases.push({ name: 'DateTime', type: ty('DateTime'), value: v });
    cases.push({ name: "DateTime('Asia/Kolkata')", type: ty('DateTime', 'Asia/Kolkata'), value: v });
  }
  cases.push(
    { name: 'Bool', type: ty('Bool'), value: true },
    { name: 'Bool', type: ty('Bool'), value: false },
  );
  return cases;
}
