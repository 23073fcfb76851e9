import { afterAll, describe, expect, it } from 'vitest';
import { loadProject } from '../../../src/project/load-project.ts';
import { removeProjects, writeProject } from './write-project.ts';

afterAll(removeProjects);

const HEAD = `source:
  kafka: { topic: payments, metadata: [__offset] }
columns:
  - { name: id,       type: String }
  - { name: amount,   type: "Decimal(18, 2)" }
  - { name: cents,    type: Int64, json: $.cents, default: 0 }
  - { name: rate,     type: Float64, json: $.rate, default: 1 }
  - { name: currency, type: String, json: $.currency, default: USD }
engine: { type: MergeTree, sorting_key: id }
`;

/** Loads one data source `payments` whose file is HEAD + `versions`; the problems as `code line:col message`. */
function load(versions: string) {
  const dir = writeProject({ 'datasources/payments.datasource.yaml': HEAD + versions });
  const { project, problems } = loadProject(dir, { env: {} });
  return {
    versions: project?.datasources.get('payments')?.versions,
    problems: problems.map((p) => `${p.code} ${p.location?.line}:${p.location?.col} ${p.message}`),
  };
}

describe('versions: in a data source', () => {
  it('reads field, missing and per-version mappings (json, default, shift), versions as text', () => {
    const r = load(`versions:
  field: $.meta.v
  missing: 2
  mappings:
    1:
      amount: { json: $.amount_cents, shift: -2 }
      currency: { default: EUR }
    2: {}
    v3:
      amount: { json: "$['the amount']" }
    "4":
`);
    expect(r.problems).toEqual([]);
    expect(r.versions).toMatchObject({
      field: { text: '$.meta.v', segments: ['meta', 'v'] },
      missing: '2',
      mappings: [
        {
          version: '1',
          columns: [
            { column: 'amount', json: { text: '$.amount_cents' }, shift: -2, loc: { line: 15, col: 7 } },
            { column: 'currency', defaultValue: 'EUR' },
          ],
          loc: { line: 14, col: 5 },
        },
        { version: '2', columns: [] },
        { version: 'v3', columns: [{ column: 'amount', json: { segments: ['the amount'] } }] },
        { version: '4', columns: [] },
      ],
    });
  });

  it('reports an unknown column with a suggestion, and a Kafka metadata column', () => {
    const r = load(`versions:
  field: $.v
  mappings:
    1:
      amout: { json: $.a }
      __offset: { json: $.o }
`);
    expect(r.problems).toEqual([
      'unknown-column 14:7 version 1 maps unknown column `amout` (did you mean `amount`?)',
      'unknown-column 15:7 version 1 maps `__offset`, which is filled from the Kafka message, not from the event',
    ]);
  });

  it('reports bad paths, bad defaults, unknown keys with a suggestion', () => {
    const r = load(`versions:
  field: $.v[*]
  mappings:
    1:
      amount: { json: $.a..b }
      cents: { default: lots }
      currency: { jsn: $.c }
`);
    expect(r.problems).toEqual([
      'invalid-json-path 11:14 invalid JSONPath `$.v[*]`: wildcards are not supported: name one key or index',
      'invalid-json-path 14:27 invalid JSONPath `$.a..b`: expected a key name after `.`',
      'invalid-default 15:25 default of `cents` in version 1: expected an integer from -9223372036854775808 to 9223372036854775807 (Int64), got "lots"',
      'unknown-key 16:19 unknown key `jsn` in `currency` in version 1 (did you mean `json`?)',
    ]);
  });

  it('refuses shift on a non-number column, and shifts that make a whole number non-integral', () => {
    const r = load(`versions:
  field: $.v
  mappings:
    1:
      currency: { shift: 2 }
      cents: { shift: -2 }
      amount: { shift: -3 }
      rate: { shift: 1.5 }
    2:
      cents: { shift: 3 }
      amount: { shift: -2 }
      rate: { shift: -6 }
`);
    expect(r.problems).toEqual([
      'invalid-shift 14:26 shift applies to number columns; `currency` in version 1 is String',
      'invalid-shift 15:23 shift -2 leaves 2 digits after the point, and `cents` in version 1 (Int64) keeps none: 103 would become 1.03',
      'invalid-shift 16:24 shift -3 leaves 3 digits after the point, and `amount` in version 1 (Decimal(18, 2)) keeps 2: 1003 would become 1.003',
      'expected-number 17:22 shift of `rate` in version 1 must be an integer',
    ]);
  });

  it('reports duplicate versions (1 and "1" are one version), `missing` not a known version, a missing field', () => {
    const r = load(`versions:
  missing: 3
  mappings:
    1: {}
    "1": {}
    2: {}
`);
    expect(r.problems).toEqual([
      'missing-key 11:3 `versions` needs `field`',
      'unknown-version 11:12 `versions.missing` is 3, which is not a mapped version (did you mean `1`?)',
      'duplicate-version 14:5 version 1 is mapped twice (first on line 13)',
    ]);
  });

  it('needs at least one version, and versions that are integers or strings', () => {
    const r = load(`versions:
  field: $
  mappings: {}
`);
    expect(r.problems).toEqual([
      'invalid-json-path 11:10 `versions.field` must name a field of the event, not `$`',
      'invalid-value 12:13 `versions.mappings` needs at least one version',
    ]);
    const r2 = load(`versions:
  field: $.v
  mappings:
    1.5: {}
    unknown_top: 1
`);
    expect(r2.problems).toEqual([
      'invalid-value 13:5 a version is an integer such as 2 or a string such as v2',
      'expected-mapping 14:18 the mapping of version unknown_top must be a mapping of names to settings',
    ]);
  });
});
