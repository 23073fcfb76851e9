import { resolve } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import type { Param, Project } from '../../../src/project/model.ts';
import {
  buildOpenApi,
  columnSchema,
  decimalPattern,
  openApiJson,
  paramSchema,
} from '../../../src/server/openapi.ts';
import { ParamError, parseParamValue } from '../../../src/sql/index.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';
import { schemaValidator } from './schema-validator.ts';

const REPO = resolve(import.meta.dirname, '..', '..', '..');

afterAll(removeProjects);

const TYPES = writeProject({
  'datasources/t.datasource.yaml':
    'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
  'pipes/all_types.pipe.yaml': [
    'params:',
    '  s:    { type: String, required: true, description: A string }',
    '  e:    { type: String, enum: [a, b], default: a }',
    '  i8:   { type: Int8 }',
    '  u32:  { type: UInt32, default: 100, min: 1, max: 1000 }',
    '  i64:  { type: Int64 }',
    '  u64:  { type: UInt64, min: 5 }',
    '  dd:   { type: "Decimal(18, 2)" }',
    '  f:    { type: Float64, min: 0.5 }',
    '  d:    { type: "Decimal(18, 2)", min: 0 }',
    '  d0:   { type: "Decimal(4, 0)" }',
    '  b:    { type: Boolean }',
    '  day:  { type: Date }',
    '  at:   { type: DateTime }',
    '  ids:  { type: Array(String) }',
    '  nums: { type: Array(UInt8) }',
    'nodes:',
    '  - name: x',
    '    sql: SELECT id FROM t WHERE id = {{ s }}',
  ].join('\n'),
  'endpoints/all_types.endpoint.yaml': 'pipe: all_types\ndescription: Every param type\nmax_staleness: 10s\n',
});

// Defaults and enum values YAML reads as another JSON type than the param's schema has.
const DEFAULTS = writeProject({
  'datasources/t.datasource.yaml':
    'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
  'pipes/defaults.pipe.yaml': [
    'params:',
    '  dec:   { type: "Decimal(18, 2)", default: 0 }',
    '  dec_e: { type: "Decimal(18, 2)", enum: [0, 12.5, "3.10"], default: 12.5 }',
    '  decs:  { type: "Array(Decimal(9, 1))", default: [1, 2.5] }',
    '  u64:   { type: UInt64, default: "18446744073709551615" }',
    '  i64:   { type: Int64, enum: ["-9223372036854775808", 0], default: 0 }',
    '  at:    { type: DateTime, default: 1710230400 }',
    '  at_e:  { type: DateTime, enum: [1710230400, "2024-03-12 08:00:00"] }',
    '  day:   { type: Date, default: "2024-03-12" }',
    '  s:     { type: String, default: 7 }',
    '  f:     { type: Float64, default: 0.5 }',
    'nodes:',
    '  - name: x',
    '    sql: SELECT id FROM t',
  ].join('\n'),
  'endpoints/defaults.endpoint.yaml': 'pipe: defaults\n',
});

/** Every `default`, `enum` value and `examples` item in `schema` and below, with the schema that holds it. */
function typedValues(schema: unknown, at = ''): Array<{ at: string; schema: object; value: unknown }> {
  if (schema === null || typeof schema !== 'object') return [];
  if (Array.isArray(schema)) return schema.flatMap((s, i) => typedValues(s, `${at}/${i}`));
  const node = schema as Record<string, unknown>;
  const own = [
    ...('default' in node ? [{ at: `${at}/default`, value: node.default }] : []),
    ...((node.enum as unknown[] | undefined) ?? []).map((value, i) => ({ at: `${at}/enum/${i}`, value })),
    ...((node.examples as unknown[] | undefined) ?? []).map((value, i) => ({
      at: `${at}/examples/${i}`,
      value,
    })),
  ].map((v) => ({ ...v, schema: node }));
  const below = Object.entries(node)
    .filter(([k]) => k !== 'default' && k !== 'enum' && k !== 'examples')
    .flatMap(([k, v]) => typedValues(v, `${at}/${k}`));
  return [...own, ...below];
}

function project(dir: string): Project {
  return loadProjectOrThrow(dir, { env: {} });
}

function params(p: Project): Map<string, Param> {
  return new Map(p.pipes.get('all_types')!.params);
}

const ajv = schemaValidator;

describe('OpenAPI document', () => {
  it('is valid OpenAPI 3.1 for the example project, with and without tokens', async () => {
    const example = project(REPO);
    for (const secured of [false, true]) {
      const doc = JSON.parse(
        openApiJson(buildOpenApi(example, { version: 'v1', serverUrl: 'http://127.0.0.1:7070', secured })),
      );
      const res = await new Validator().validate(doc);
      expect(res.errors ?? [], JSON.stringify(res.errors)).toEqual([]);
      expect(res.valid).toBe(true);
      expect(Object.keys(doc.paths)).toContain('/v0/pipes/balance.json');
      expect(Object.keys(doc.paths)).toContain('/v0/pipes/account_history.csv');
      const get = doc.paths['/v0/pipes/balance.json'].get;
      expect(get.parameters.map((x: { name: string }) => x.name)).toEqual(['account_id', 'as_of']);
      expect(get.parameters[0]).toMatchObject({ in: 'query', required: true, schema: { type: 'string' } });
      expect(Object.keys(get.responses)).toEqual(
        secured
          ? ['200', '400', '401', '403', '404', '413', '422', '500', '503', '504']
          : ['200', '400', '404', '413', '422', '500', '503', '504'],
      );
      expect(Boolean(doc.components.securitySchemes)).toBe(secured);
      expect(Boolean(get.security)).toBe(secured);
      // A param given only with another: said in its description (GET) and as dependentRequired (POST).
      const history = doc.paths['/v0/pipes/account_history.json'];
      const cursorId = history.get.parameters.find((x: { name: string }) => x.name === 'before_id');
      expect(cursorId.description).toMatch(/\. Only together with `before`\.$/);
      const body = history.post.requestBody.content['application/json'].schema;
      expect(body.dependentRequired).toEqual({ before_id: ['before'] });
      const check = ajv().compile(body);
      expect(check({ account_id: 'a', before_id: 'x' })).toBe(false);
      expect(check({ account_id: 'a', before_id: 'x', before: '2024-03-11 15:57:09' })).toBe(true);
    }
  });

  it("is titled with tally.yaml's name, else the folder's", () => {
    const example = loadProjectOrThrow(REPO, { env: {} });
    const titled = buildOpenApi(example, { version: 'v1', secured: false }) as { info: { title: string } };
    expect(titled.info.title).toBe('bank-and-subscriptions: Tally endpoints');
    const unnamed = buildOpenApi(project(TYPES), { version: 'v1', secured: false }) as {
      info: { title: string };
    };
    expect(unnamed.info.title).toMatch(/^tally-project-\w+: Tally endpoints$/);
  });

  it('is valid for every param type, with exact integer bounds', async () => {
    const doc = buildOpenApi(project(TYPES), { version: 'v1', secured: false });
    const text = openApiJson(doc);
    const res = await new Validator().validate(JSON.parse(text));
    expect(res.errors ?? [], JSON.stringify(res.errors)).toEqual([]);
    // exact bounds past 2^53, as JSON numbers
    expect(text).toContain('"minimum":-9223372036854775808,"maximum":9223372036854775807');
    expect(text).toContain('"minimum":5,"maximum":18446744073709551615');
  });

  it("writes defaults and enum values in their schema's type (a Decimal default 0 was a number in a string schema)", async () => {
    const text = openApiJson(buildOpenApi(project(DEFAULTS), { version: 'v1', secured: false }));
    const doc = JSON.parse(text);
    const res = await new Validator().validate(doc);
    expect(res.errors ?? [], JSON.stringify(res.errors)).toEqual([]);
    const op = doc.paths['/v0/pipes/defaults.json'];
    const schemas = [
      ...op.get.parameters.map((x: { name: string; schema: object }) => [`get ${x.name}`, x.schema]),
      ...Object.entries(op.post.requestBody.content['application/json'].schema.properties).map(([k, v]) => [
        `post ${k}`,
        v,
      ]),
    ] as Array<[string, object]>;
    const a = ajv();
    let checked = 0;
    for (const [name, schema] of schemas) {
      for (const v of typedValues(schema)) {
        const validate = a.compile(v.schema);
        expect(
          validate(v.value),
          `${name}${v.at} ${JSON.stringify(v.value)}: ${a.errorsText(validate.errors)}`,
        ).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30);
    const get = (name: string) =>
      op.get.parameters.find((x: { name: string }) => x.name === name).schema as Record<string, unknown>;
    expect(get('dec').default).toBe('0');
    expect(get('dec_e')).toMatchObject({ default: '12.5', enum: ['0', '12.5', '3.10'] });
    expect(get('decs').default).toEqual(['1', '2.5']);
    expect(get('at').default).toBe('1710230400');
    expect(get('at_e').enum).toEqual(['1710230400', '2024-03-12 08:00:00']);
    expect(get('s').default).toBe('7');
    expect(get('f').default).toBe(0.5);
    // Integers past 2^53 with every digit, as JSON numbers.
    expect(text).toContain('"default":18446744073709551615');
    expect(text).toContain('"enum":[-9223372036854775808,0]');
  });

  it('maps param types to JSON Schema', () => {
    const p = params(project(TYPES));
    const s = (name: string) => paramSchema(p.get(name)!);
    expect(s('s')).toMatchObject({ type: 'string', 'x-clickhouse-type': 'String' });
    expect(s('e')).toMatchObject({ type: 'string', enum: ['a', 'b'] });
    expect(s('i8')).toMatchObject({ type: 'integer', format: 'int8', minimum: -128, maximum: 127 });
    expect(s('u32')).toMatchObject({ type: 'integer', format: 'uint32', minimum: 1, maximum: 1000 });
    expect(s('f')).toMatchObject({ type: 'number', format: 'double', minimum: 0.5 });
    expect(s('d')).toMatchObject({
      type: 'string',
      format: 'decimal',
      pattern: decimalPattern(18, 2),
      'x-minimum': 0,
    });
    // Only the bound the param sets: no `x-maximum: null` for a missing one.
    expect(s('d')).not.toHaveProperty('x-maximum');
    expect(s('b')).toEqual({ type: 'boolean', 'x-clickhouse-type': 'Bool' });
    expect(s('day')).toMatchObject({ type: 'string', format: 'date' });
    expect(s('ids')).toMatchObject({ type: 'array', items: { type: 'string' }, maxItems: 10000 });
    expect(s('nums')).toMatchObject({ type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 } });
    const doc = buildOpenApi(project(TYPES), { version: 'v1', secured: false }) as {
      paths: Record<
        string,
        { get: { parameters: Array<Record<string, unknown>> }; post: Record<string, unknown> }
      >;
    };
    const op = doc.paths['/v0/pipes/all_types.json']!;
    const ids = op.get.parameters.find((x) => x.name === 'ids');
    expect(ids).toMatchObject({ style: 'form', explode: false, required: false });
    expect(op.get.parameters.find((x) => x.name === 'u32')).toMatchObject({ schema: { default: 100 } });
    expect(op.post).toMatchObject({
      requestBody: {
        required: true,
        content: { 'application/json': { schema: { type: 'object', required: ['s'] } } },
      },
    });
  });

  it('accepts with its schemas exactly what the server accepts, for each type (spot checks)', () => {
    const p = params(project(TYPES));
    const a = ajv();
    const cases: Array<[string, unknown[], unknown[]]> = [
      [
        'dd',
        ['0', '12.5', '-1.50', '0001.20', '9999999999999999.99', '1.230'],
        ['1.234', '1e3', '', '.5', '10000000000000000', 'x'],
      ],
      ['d0', ['0', '9999', '12.000', '0009'], ['10000', '1.5', '1.']],
      ['day', ['2024-03-12'], ['2024-3-12', '12/03/2024']],
      [
        'at',
        [
          '2024-03-12 08:00:00',
          '2024-03-12T08:00:00Z',
          '2024-03-12T08:00:00.5+02:00',
          '2024-03-12T08:00:00',
          '2024-03-12 10:00:00+0200',
          '1710230400',
        ],
        ['yesterday', '2024-03-12T08:00', '2024-03-12 08:00:00 UTC'],
      ],
      ['i8', [-128, 127], [128, -129, 1.5]],
      ['e', ['a', 'b'], ['c']],
    ];
    for (const [name, good, bad] of cases) {
      const param = p.get(name)!;
      const validate = a.compile(paramSchema(param));
      for (const v of good) {
        expect(validate(v), `${name} ${JSON.stringify(v)} by schema`).toBe(true);
        expect(() => parseParamValue(v, param), `${name} ${JSON.stringify(v)} by the server`).not.toThrow();
      }
      for (const v of bad) {
        expect(validate(v), `${name} ${JSON.stringify(v)} by schema`).toBe(false);
        expect(() => parseParamValue(v, param), `${name} ${JSON.stringify(v)} by the server`).toThrow(
          ParamError,
        );
      }
    }
  });

  it('has a decimal pattern that agrees with the server on random digit strings', () => {
    const p = params(project(TYPES));
    const d = p.get('dd')!;
    const re = new RegExp(decimalPattern(18, 2));
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 2000; i++) {
      const int = Array.from({ length: rnd(20) + 1 }, () => (rnd(4) === 0 ? '0' : String(rnd(10)))).join('');
      const frac = rnd(2)
        ? `.${Array.from({ length: rnd(5) + 1 }, () => String(rnd(3) === 0 ? 0 : rnd(10))).join('')}`
        : '';
      const v = `${rnd(3) === 0 ? '-' : ''}${int}${frac}`;
      let ok = true;
      try {
        parseParamValue(v, d);
      } catch {
        ok = false;
      }
      expect(re.test(v), v).toBe(ok);
    }
  });

  it('maps ClickHouse output column types as FORMAT JSON writes them', () => {
    expect(columnSchema('String')).toMatchObject({ type: 'string' });
    expect(columnSchema('Nullable(Decimal(18, 2))')).toMatchObject({
      anyOf: [{ type: 'number' }, { type: 'null' }],
    });
    expect(columnSchema('LowCardinality(String)')).toMatchObject({ type: 'string' });
    expect(columnSchema('UInt64')).toMatchObject({ type: 'integer' });
    expect(columnSchema('Int128')).toMatchObject({ type: ['integer', 'string'] });
    expect(columnSchema("DateTime('UTC')")).toMatchObject({ type: 'string' });
    expect(columnSchema('Array(Date)')).toMatchObject({
      type: 'array',
      items: { type: 'string', format: 'date' },
    });
    expect(columnSchema("Enum8('a' = 1, 'b' = 2)")).toMatchObject({ type: 'string', enum: ['a', 'b'] });
    expect(columnSchema('AggregateFunction(sum, UInt64)')).toEqual({
      'x-clickhouse-type': 'AggregateFunction(sum, UInt64)',
    });
    expect(columnSchema('not a type((')).toEqual({ 'x-clickhouse-type': 'not a type((' });
  });
});
