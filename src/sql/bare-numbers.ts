/**
 * Where ClickHouse takes only a number literal, a typed value such as `toUInt32(100)` (or a
 * `{limit:UInt32}` placeholder) is a syntax error: LIMIT/OFFSET/TOP/SAMPLE on 18.16, and the
 * parameters of a parametric aggregate (`quantile(0.9)(x)`) on every version. There, numbers are
 * written bare; anywhere else they keep their declared type.
 */
import { isKeyword, isPunct, lexSql, type SqlToken, significantTokens } from '../project/sql-lexer.ts';

/** Where a value was rendered in the SQL, and its bare numeral if it is a number. */
export interface ValueSpan {
  start: number;
  end: number;
  bare?: string;
}

const NUMBER_ONLY = new Set(['LIMIT', 'OFFSET', 'TOP', 'SAMPLE']);

/** Rewrites the spans that sit where a bare number is required; returns which ones it rewrote. */
export function bareNumbers(
  sql: string,
  spans: readonly ValueSpan[],
): { sql: string; replaced: Set<number> } {
  const replaced = new Set<number>();
  if (!spans.some((s) => s.bare !== undefined)) return { sql, replaced };
  const toks = significantTokens(lexSql(sql));
  const firstToken = (pos: number) => toks.findIndex((t) => t.start >= pos);
  const endsAt = new Map(spans.map((s) => [s.end, s]));

  // The first token of the item that ends with token j (a number, or a value Tally rendered).
  const itemStart = (j: number): number | undefined => {
    const t = toks[j];
    if (!t) return undefined;
    if (t.kind === 'number') return j;
    const span = endsAt.get(t.end);
    return span ? firstToken(span.start) : undefined;
  };

  spans.forEach((s, i) => {
    if (s.bare === undefined) return;
    const k = firstToken(s.start);
    const prev = toks[k - 1];
    if (prev?.kind === 'word' && NUMBER_ONLY.has(prev.text.toUpperCase())) replaced.add(i);
    else if (isPunct(prev, ',')) {
      // LIMIT offset, count
      const item = itemStart(k - 2);
      if (item !== undefined && isKeyword(toks[item - 1], 'LIMIT')) replaced.add(i);
      else if (isAggregateParameter(toks, k)) replaced.add(i);
    } else if (isAggregateParameter(toks, k)) replaced.add(i);
  });

  let out = sql;
  for (const i of [...replaced].sort((a, b) => b - a)) {
    const s = spans[i]!;
    // A space before a negative numeral: after a `-` (`1-{{ q }}`) it would make `--`, which
    // starts a comment and hides the rest of the line.
    out = out.slice(0, s.start) + (s.bare!.startsWith('-') ? ` ${s.bare}` : s.bare) + out.slice(s.end);
  }
  return { sql: out, replaced };
}

/** Token k is inside `name(...)` directly followed by `(`: the parameters of a parametric aggregate. */
function isAggregateParameter(toks: readonly SqlToken[], k: number): boolean {
  let depth = 0;
  let open = -1;
  for (let i = k - 1; i >= 0; i--) {
    if (isPunct(toks[i], ')')) depth++;
    else if (isPunct(toks[i], '(')) {
      if (depth === 0) {
        open = i;
        break;
      }
      depth--;
    }
  }
  if (open < 1 || toks[open - 1]!.kind !== 'word') return false;
  depth = 0;
  for (let i = open; i < toks.length; i++) {
    if (isPunct(toks[i], '(')) depth++;
    else if (isPunct(toks[i], ')') && --depth === 0) return isPunct(toks[i + 1], '(');
  }
  return false;
}
