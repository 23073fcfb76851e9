import { lexSql, significantTokens } from '../project/sql-lexer.ts';

/** What a SQL text a user typed is, read with the lexer (strings and comments are not words). */
export interface QueryShape {
  /** Parts between `;` that hold more than comments. */
  statements: number;
  /** It answers rows (SELECT, WITH, SHOW...); everything else (CREATE, INSERT...) runs as a command. */
  returnsRows: boolean;
  /** It ends in its own `FORMAT <name>`, which wins over the one Tally asks for. */
  ownFormat: boolean;
  /** It writes a file on the server's side (`INTO OUTFILE`), whatever its first word. */
  writesFile: boolean;
}

const ROW_STATEMENTS = ['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXISTS', 'EXPLAIN'];

export function queryShape(sql: string): QueryShape {
  const toks = significantTokens(lexSql(sql));
  const isSemicolon = (i: number) => toks[i]?.kind === 'punct' && toks[i]!.text === ';';
  let statements = 0;
  for (let i = 0; i < toks.length; i++) {
    if (!isSemicolon(i) && (i === 0 || isSemicolon(i - 1))) statements++;
  }
  const lead = toks[0]?.text === '(' ? toks[1] : toks[0];
  const first = lead?.kind === 'word' ? lead.text.toUpperCase() : undefined;
  let end = toks.length;
  while (end > 0 && isSemicolon(end - 1)) end--;
  const format = toks[end - 2];
  return {
    statements,
    returnsRows: first === undefined || ROW_STATEMENTS.includes(first),
    ownFormat:
      format?.kind === 'word' && format.text.toUpperCase() === 'FORMAT' && toks[end - 1]!.kind === 'word',
    writesFile: toks.some(
      (t, i) =>
        t.kind === 'word' &&
        t.text.toUpperCase() === 'OUTFILE' &&
        toks[i - 1]?.kind === 'word' &&
        toks[i - 1]!.text.toUpperCase() === 'INTO',
    ),
  };
}
