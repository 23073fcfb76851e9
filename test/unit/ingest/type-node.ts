import type { Column, DataSource, TypeArg, TypeNode } from '../../../src/project/model.ts';

/** A TypeNode from its text, for tests (the subset the ingest tests use). */
export function typeNode(text: string): TypeNode {
  const p = { s: text, i: 0 };
  const t = parse(p);
  if (p.i !== text.length) throw new Error(`bad type ${text} at ${p.i}`);
  return t;
}

function parse(p: { s: string; i: number }): TypeNode {
  skip(p);
  const m = /^[A-Za-z0-9_]+/.exec(p.s.slice(p.i));
  if (!m) throw new Error(`bad type at ${p.i}: ${p.s}`);
  const name = m[0];
  p.i += name.length;
  const args: TypeArg[] = [];
  skip(p);
  if (p.s[p.i] === '(') {
    p.i++;
    for (;;) {
      skip(p);
      const rest = p.s.slice(p.i);
      const en = /^'((?:[^'\\]|\\.)*)'\s*=\s*(-?\d+)/.exec(rest);
      const str = /^'((?:[^'\\]|\\.)*)'/.exec(rest);
      const num = /^-?\d+/.exec(rest);
      if (en) {
        args.push({ kind: 'enum', name: en[1]!, value: Number(en[2]) });
        p.i += en[0].length;
      } else if (str) {
        args.push({ kind: 'string', value: str[1]! });
        p.i += str[0].length;
      } else if (num) {
        args.push({ kind: 'number', value: Number(num[0]) });
        p.i += num[0].length;
      } else {
        args.push({ kind: 'type', type: parse(p) });
      }
      skip(p);
      if (p.s[p.i] === ',') {
        p.i++;
        continue;
      }
      if (p.s[p.i] === ')') {
        p.i++;
        break;
      }
      throw new Error(`bad type at ${p.i}: ${p.s}`);
    }
  }
  return { name, args, text: render(name, args) };
}

function render(name: string, args: TypeArg[]): string {
  if (args.length === 0) return name;
  const parts = args.map((a) =>
    a.kind === 'type'
      ? a.type.text
      : a.kind === 'number'
        ? String(a.value)
        : a.kind === 'string'
          ? `'${a.value}'`
          : a.kind === 'enum'
            ? `'${a.name}' = ${a.value}`
            : a.value,
  );
  return `${name}(${parts.join(', ')})`;
}

function skip(p: { s: string; i: number }): void {
  while (p.s[p.i] === ' ') p.i++;
}

const LOC = { file: 'test.datasource.yaml', line: 1, col: 1 };

export interface ColumnSpec {
  name: string;
  type: string;
  /** A JSONPath; `null` for none; default `$.<name>`. */
  json?: string | null;
  default?: string;
  defaultValue?: unknown;
}

/** A DataSource built by hand (what the loader would produce). */
export function dataSource(
  name: string,
  columns: ColumnSpec[],
  extra: Partial<Pick<DataSource, 'kafka' | 'dedupKey' | 'engine'>> = {},
): DataSource {
  const cols: Column[] = columns.map((c) => {
    const col: Column = { name: c.name, type: typeNode(c.type), loc: LOC };
    const json = c.json === undefined ? `$.${c.name}` : c.json;
    if (json !== null) col.json = { text: json, segments: pathSegments(json) };
    if (c.default !== undefined) col.default = c.default;
    if (c.defaultValue !== undefined) col.defaultValue = c.defaultValue;
    return col;
  });
  return {
    kind: 'datasource',
    name,
    file: `${name}.datasource.yaml`,
    loc: LOC,
    columns: cols,
    engine: extra.engine ?? { type: 'MergeTree', sortingKey: [], settings: {} },
    ...(extra.kafka ? { kafka: extra.kafka } : {}),
    ...(extra.dedupKey ? { dedupKey: extra.dedupKey } : {}),
  };
}

/** `$.a.b[0]['c d']` -> ['a', 'b', 0, 'c d']. */
export function pathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['([^']*)'\]/g;
  for (const m of path.slice(1).matchAll(re)) out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3]!));
  return out;
}
