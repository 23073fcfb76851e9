import { describe, expect, it } from 'vitest';
import type { Problem } from '../../../src/errors.ts';
import { TallyError } from '../../../src/errors.ts';
import type { TemplatePart } from '../../../src/project/model.ts';
import { parseTemplate, templateParamUses } from '../../../src/project/parse-template.ts';

const start = { file: 'pipes/p.pipe.yaml', line: 10, col: 7 };
const at = (line: number, col: number) => ({ file: 'pipes/p.pipe.yaml', line, col });

function parse(sql: string): { parts: TemplatePart[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const parts = parseTemplate(sql, { start, problems });
  return { parts, problems };
}

function cond(sql: string) {
  const { parts, problems } = parse(`{% if ${sql} %}x{% end %}`);
  expect(problems).toEqual([]);
  const p = parts[0];
  if (p?.kind !== 'if') throw new Error('not an if');
  return p.branches[0]!.cond;
}

function firstError(sql: string): Problem {
  const { problems } = parse(sql);
  expect(problems.length).toBeGreaterThan(0);
  return problems[0]!;
}

describe('parseTemplate', () => {
  it('reads plain text as one located part', () => {
    expect(parse('SELECT 1').parts).toEqual([{ kind: 'text', text: 'SELECT 1', loc: at(10, 7) }]);
    expect(parse('').parts).toEqual([]);
  });

  it('locates params on later lines (block scalar columns)', () => {
    const { parts, problems } = parse('SELECT a\nWHERE id = {{ account_id }}\n  AND x');
    expect(problems).toEqual([]);
    expect(parts).toEqual([
      { kind: 'text', text: 'SELECT a\nWHERE id = ', loc: at(10, 7) },
      { kind: 'param', param: 'account_id', loc: at(11, 18) },
      { kind: 'text', text: '\n  AND x', loc: at(11, 34) },
    ]);
  });

  it('reads the DESIGN example', () => {
    const sql =
      'SELECT account_id, amount FROM transactions\nWHERE account_id = {{ account_id }}\n{% if defined(as_of) %} AND timestamp <= {{ as_of }} {% end %}\n';
    const { parts, problems } = parse(sql);
    expect(problems).toEqual([]);
    expect(parts.map((p) => p.kind)).toEqual(['text', 'param', 'text', 'if', 'text']);
    const ifPart = parts[3]!;
    expect(ifPart).toEqual({
      kind: 'if',
      loc: at(12, 7),
      branches: [
        {
          cond: { kind: 'defined', param: 'as_of' },
          loc: at(12, 7),
          body: [
            { kind: 'text', text: ' AND timestamp <= ', loc: at(12, 30) },
            { kind: 'param', param: 'as_of', loc: at(12, 48) },
            { kind: 'text', text: ' ', loc: at(12, 59) },
          ],
        },
      ],
    });
  });

  it('reads if / elif / else and nesting', () => {
    const { parts, problems } = parse(
      "{% if a == 'x' %}A{% elif b %}B{% if c %}C{% end %}{% else %}D{% end %}",
    );
    expect(problems).toEqual([]);
    expect(parts).toHaveLength(1);
    const p = parts[0]!;
    if (p.kind !== 'if') throw new Error('expected if');
    expect(p.branches.map((b) => b.cond)).toEqual([
      {
        kind: 'compare',
        op: '==',
        left: { kind: 'param', param: 'a' },
        right: { kind: 'literal', value: 'x' },
      },
      { kind: 'param', param: 'b' },
    ]);
    expect(p.branches[1]!.loc).toEqual(at(10, 25));
    expect(p.branches[1]!.body.map((x) => x.kind)).toEqual(['text', 'if']);
    expect(p.otherwise).toEqual([{ kind: 'text', text: 'D', loc: at(10, 68) }]);
  });

  it('parses conditions with precedence: not > and > or', () => {
    expect(cond('a or b and not c')).toEqual({
      kind: 'or',
      left: { kind: 'param', param: 'a' },
      right: {
        kind: 'and',
        left: { kind: 'param', param: 'b' },
        right: { kind: 'not', expr: { kind: 'param', param: 'c' } },
      },
    });
    expect(cond('(a or b) and c')).toMatchObject({ kind: 'and', left: { kind: 'or' } });
    expect(cond('not (defined(a) and a > 5)')).toEqual({
      kind: 'not',
      expr: {
        kind: 'and',
        left: { kind: 'defined', param: 'a' },
        right: {
          kind: 'compare',
          op: '>',
          left: { kind: 'param', param: 'a' },
          right: { kind: 'literal', value: 5 },
        },
      },
    });
  });

  it.each([
    ['x == "double"', 'double'],
    ["x != 'it\\'s'", "it's"],
    ['x < -1.5', -1.5],
    ['x <= 10', 10],
    ['x >= true', true],
    ['x > False', false],
    ['x == null', null],
  ])('compares with literals: %s', (src, value) => {
    expect(cond(src)).toMatchObject({ kind: 'compare', right: { kind: 'literal', value } });
  });

  it('allows the literal on the left', () => {
    expect(cond("'a' == x")).toMatchObject({
      left: { kind: 'literal', value: 'a' },
      right: { kind: 'param', param: 'x' },
    });
  });

  it('lists param uses with their locations', () => {
    const { parts } = parse(
      '{{ a }}\n{% if defined(b) and c > 1 %}{{ d }}{% elif e %}{% else %}{{ f }}{% end %}',
    );
    expect(templateParamUses(parts)).toEqual([
      { param: 'a', loc: at(10, 7), kind: 'value' },
      { param: 'b', loc: at(11, 7), kind: 'condition' },
      { param: 'c', loc: at(11, 7), kind: 'condition' },
      { param: 'd', loc: at(11, 36), kind: 'value' },
      { param: 'e', loc: at(11, 43), kind: 'condition' },
      { param: 'f', loc: at(11, 65), kind: 'value' },
    ]);
  });

  it('throws the first error as a TallyError without a problems list', () => {
    expect(() => parseTemplate('{{ a ')).toThrow(TallyError);
    expect(() => parseTemplate('{{ a ')).toThrow('`{{` is never closed');
  });
});

describe('parseTemplate errors are located', () => {
  it.each([
    ['SELECT {{ a', 'template-unclosed', '`{{` is never closed', 10, 14],
    ['SELECT {% if a', 'template-unclosed', '`{%` is never closed', 10, 14],
    ['x\n{% if a %} y', 'template-unclosed', '`{% if %}` is never closed', 11, 7],
    ['{% endif %}', 'template-unknown-tag', 'unknown tag `{% endif %}`', 10, 10],
    ['{% for x in y %}', 'template-unknown-tag', 'unknown tag `{% for %}`', 10, 10],
    ['{% els %}', 'template-unknown-tag', 'unknown tag `{% els %}` (did you mean `else`?)', 10, 10],
    ['{% end %}', 'template-syntax', '`{% end %}` without an open `{% if %}`', 10, 7],
    ['{% else %}', 'template-syntax', '`{% else %}` without an open `{% if %}`', 10, 7],
    ['{% elif a %}', 'template-syntax', '`{% elif %}` without an open `{% if %}`', 10, 7],
    [
      '{% if a %}{% else %}{% elif b %}{% end %}',
      'template-syntax',
      '`{% elif %}` after `{% else %}`',
      10,
      27,
    ],
    [
      '{% if a %}{% else %}{% else %}{% end %}',
      'template-syntax',
      'a second `{% else %}` in the same `{% if %}`',
      10,
      27,
    ],
    ['{% if a %}{% else x %}{% end %}', 'template-syntax', '`{% else %}` takes nothing after `else`', 10, 25],
    ['{% %}', 'template-syntax', 'empty `{% %}`: expected if, elif, else or end', 10, 7],
    ['{% if %}{% end %}', 'template-syntax', 'expected a condition, e.g. {% if defined(p) %}', 10, 7],
    ['{{ }}', 'template-syntax', 'empty `{{ }}`: put a param name inside, e.g. {{ account_id }}', 10, 7],
    ['{{ a + 1 }}', 'template-syntax', 'only a param name can go inside `{{ }}`, found `a + 1`', 10, 10],
    ['{% if a = 1 %}{% end %}', 'template-syntax', 'use `==` to compare', 10, 15],
    ['{% if a && b %}{% end %}', 'template-syntax', 'use `and` instead of `&&`', 10, 15],
    ['{% if !a %}{% end %}', 'template-syntax', 'use `not` instead of `!`', 10, 13],
    ['{% if a b %}{% end %}', 'template-syntax', 'unexpected `b` in a condition', 10, 15],
    ['{% if (a %}{% end %}', 'template-syntax', 'expected `)` to close the `(`', 10, 16],
    [
      '{% if a == %}{% end %}',
      'template-syntax',
      'the condition ends too early: expected a param, a literal or `(`',
      10,
      18,
    ],
    ['{% if defined(a) == 1 %}{% end %}', 'template-syntax', '`==` compares a param with a literal', 10, 13],
    ["{% if 'a' == 'b' %}{% end %}", 'template-syntax', '`==` needs a param on one side', 10, 13],
    [
      '{% if a < 1 < 2 %}{% end %}',
      'template-syntax',
      'comparisons cannot be chained: join them with and',
      10,
      19,
    ],
    ['{% if defined a %}{% end %}', 'template-syntax', 'expected `(` after defined, e.g. defined(p)', 10, 21],
    [
      '{% if defined(1) %}{% end %}',
      'template-syntax',
      'defined() takes a param name, e.g. defined(as_of)',
      10,
      21,
    ],
    ["{% if a == 'x %}{% end %}", 'template-syntax', 'unterminated string', 10, 18],
    ['{% if a ~ 1 %}{% end %}', 'template-syntax', 'unexpected `~` in a condition', 10, 15],
  ])('%s', (sql, code, message, line, col) => {
    const p = firstError(sql);
    expect(p).toMatchObject({ severity: 'error', code, location: at(line, col) });
    expect(p.message).toBe(message);
  });

  it('a {{ left open on its line is that one problem: no SQL below swallowed, no follow-on errors', () => {
    const sql = [
      'WHERE account_id = {{ account_id }',
      '{% if defined(since) %} AND at >= {{ since }} {% end %}',
      '{% if kind == 1 %} AND 1 {% elif kind == 2 %} AND 2 {% end %}',
    ].join('\n');
    const { parts, problems } = parse(sql);
    expect(problems).toEqual([
      expect.objectContaining({
        code: 'template-unclosed',
        message: '`{{ account_id` is not closed on its line',
        hint: 'close it with `}}`: {{ account_id }}',
        location: at(10, 26),
      }),
    ]);
    // Its param still counts as used (no false "declared but unused").
    expect(templateParamUses(parts).map((u) => u.param)).toEqual([
      'account_id',
      'since',
      'since',
      'kind',
      'kind',
    ]);
  });

  it('reports every problem in one pass', () => {
    const { problems } = parse('{{ }} {% bogus %} {% end %} {% if a = 1 %} {{ b');
    expect(problems.map((p) => p.message)).toEqual([
      'empty `{{ }}`: put a param name inside, e.g. {{ account_id }}',
      'unknown tag `{% bogus %}`',
      '`{% end %}` without an open `{% if %}`',
      'use `==` to compare',
      '`{{` is never closed',
      '`{% if %}` is never closed',
    ]);
  });
});
