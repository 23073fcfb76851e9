import { describe, expect, it } from 'vitest';
import { lexSql, significantTokens } from '../../../src/project/sql-lexer.ts';

const kinds = (sql: string) => significantTokens(lexSql(sql)).map((t) => [t.kind, t.text]);

describe('lexSql', () => {
  it('rebuilds the input exactly from its tokens', () => {
    const sql =
      "SELECT a, 'x''y\\'z' AS `b c`, \"d\" -- note\n/* multi\nline */ FROM t WHERE x >= 1.5e3 {{ p }}";
    expect(
      lexSql(sql)
        .map((t) => t.text)
        .join(''),
    ).toBe(sql);
  });

  it('reads strings with backslash and doubled-quote escapes as one token', () => {
    const [t] = lexSql("'it''s a \\'test\\' \\n FROM x'");
    expect(t).toMatchObject({ kind: 'string', value: "it's a 'test' \n FROM x", start: 0 });
    expect(lexSql("'a'")[0]!.end).toBe(3);
  });

  it('reads quoted identifiers', () => {
    expect(
      significantTokens(lexSql('SELECT "my col", `other``s` FROM "t"'))
        .filter((t) => t.kind === 'quoted')
        .map((t) => t.value),
    ).toEqual(['my col', 'other`s', 't']);
  });

  it('keeps comments and template tags whole', () => {
    expect(
      lexSql('a -- FROM b\nc /* JOIN d */ {{ x }} {% if y %}')
        .filter((t) => t.kind !== 'whitespace')
        .map((t) => [t.kind, t.text]),
    ).toEqual([
      ['word', 'a'],
      ['comment', '-- FROM b'],
      ['word', 'c'],
      ['comment', '/* JOIN d */'],
      ['template', '{{ x }}'],
      ['template', '{% if y %}'],
    ]);
  });

  it('reads numbers, words and operators', () => {
    expect(kinds('x>=10 AND y<>0x1F OR z::UInt8 -> .5 1e-3 t.1')).toEqual([
      ['word', 'x'],
      ['punct', '>='],
      ['number', '10'],
      ['word', 'AND'],
      ['word', 'y'],
      ['punct', '<>'],
      ['number', '0x1F'],
      ['word', 'OR'],
      ['word', 'z'],
      ['punct', '::'],
      ['word', 'UInt8'],
      ['punct', '->'],
      ['number', '.5'],
      ['number', '1e-3'],
      ['word', 't'],
      ['number', '.1'],
    ]);
  });

  it('never throws on unterminated input', () => {
    expect(lexSql("SELECT 'abc")[2]).toMatchObject({ kind: 'string', unterminated: true, value: 'abc' });
    expect(lexSql('/* abc')[0]).toMatchObject({ kind: 'comment', unterminated: true });
    expect(lexSql('"abc')[0]).toMatchObject({ kind: 'quoted', unterminated: true });
    expect(lexSql('{{ abc')[0]).toMatchObject({ kind: 'template', unterminated: true });
  });
});
