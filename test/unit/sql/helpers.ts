// Small builders for the project model, so these tests do not depend on the loader.
import type {
  Param,
  Pipe,
  PipeNode,
  TemplateExpr,
  TemplatePart,
  TypeArg,
  TypeNode,
} from '../../../src/project/model.ts';

const LOC = { file: 'pipes/test.pipe.yaml', line: 1, col: 1 };

/** `ty('Decimal', 18, 2)`, `ty('Array', ty('String'))`, `ty('DateTime', 'UTC')`. */
export function ty(name: string, ...args: Array<TypeNode | number | string>): TypeNode {
  const parts: TypeArg[] = args.map((a) =>
    typeof a === 'number'
      ? { kind: 'number', value: a }
      : typeof a === 'string'
        ? { kind: 'string', value: a }
        : { kind: 'type', type: a },
  );
  const text = (a: TypeArg) =>
    a.kind === 'number'
      ? String(a.value)
      : a.kind === 'string'
        ? `'${a.value}'`
        : a.kind === 'type'
          ? a.type.text
          : '';
  return { name, args: parts, text: parts.length ? `${name}(${parts.map(text).join(', ')})` : name };
}

export function param(name: string, type: TypeNode, extra: Partial<Param> = {}): Param {
  return { name, type, required: false, loc: LOC, ...extra };
}

/** Template parts from SQL with `{{ p }}` only (conditions are built by hand with `cond`). */
export function tpl(sql: string): TemplatePart[] {
  const out: TemplatePart[] = [];
  const re = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
  let pos = 0;
  for (const m of sql.matchAll(re)) {
    if (m.index > pos) out.push({ kind: 'text', text: sql.slice(pos, m.index), loc: LOC });
    out.push({ kind: 'param', param: m[1]!, loc: LOC });
    pos = m.index + m[0].length;
  }
  if (pos < sql.length) out.push({ kind: 'text', text: sql.slice(pos), loc: LOC });
  return out;
}

export function ifPart(
  branches: Array<[TemplateExpr, TemplatePart[]]>,
  otherwise?: TemplatePart[],
): TemplatePart {
  return {
    kind: 'if',
    branches: branches.map(([cond, body]) => ({ cond, body })),
    ...(otherwise ? { otherwise } : {}),
    loc: LOC,
  };
}

export const ex = {
  defined: (p: string): TemplateExpr => ({ kind: 'defined', param: p }),
  param: (p: string): TemplateExpr => ({ kind: 'param', param: p }),
  lit: (value: string | number | boolean | null): TemplateExpr => ({ kind: 'literal', value }),
  not: (expr: TemplateExpr): TemplateExpr => ({ kind: 'not', expr }),
  and: (left: TemplateExpr, right: TemplateExpr): TemplateExpr => ({ kind: 'and', left, right }),
  or: (left: TemplateExpr, right: TemplateExpr): TemplateExpr => ({ kind: 'or', left, right }),
  cmp: (
    left: TemplateExpr,
    op: '==' | '!=' | '<' | '<=' | '>' | '>=',
    right: TemplateExpr,
  ): TemplateExpr => ({
    kind: 'compare',
    op,
    left,
    right,
  }),
};

export function node(name: string, sql: string | TemplatePart[]): PipeNode {
  return {
    name,
    sql: typeof sql === 'string' ? sql : '',
    template: typeof sql === 'string' ? tpl(sql) : sql,
    sqlStart: LOC,
    references: [],
    loc: LOC,
  };
}

export function pipe(name: string, params: Param[], nodes: PipeNode[]): Pipe {
  return {
    kind: 'pipe',
    name,
    file: `pipes/${name}.pipe.yaml`,
    loc: LOC,
    params: new Map(params.map((p) => [p.name, p])),
    nodes,
  };
}
