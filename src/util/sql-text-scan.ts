/**
 * Reading ClickHouse's own SQL text (a `create_table_query`, an `engine_full`, a type) where a
 * full parse is not needed: finding what stands outside parentheses and quoted text (square
 * brackets are not counted: the engine arguments, settings and aggregate types read here put no
 * commas inside them). One walk for every such reader, so they agree on what is quoted: '...',
 * "..." and `...`, each with backslash escapes (ClickHouse writes `\'` inside strings).
 */

/**
 * Walks `s` from `from` and calls `at(i, depth)` for each character outside quoted text, with
 * the parenthesis depth after that character (an opening `(` is at depth 1, its closing `)` at 0).
 * Returns the first `i` for which `at` returns true, or -1.
 */
export function scanOutsideQuotes(
  s: string,
  from: number,
  at: (i: number, depth: number) => boolean,
): number {
  let depth = 0;
  for (let i = from; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === "'" || ch === '"' || ch === '`') {
      for (i++; i < s.length && s[i] !== ch; i++) if (s[i] === '\\') i++;
      continue;
    }
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (at(i, depth)) return i;
  }
  return -1;
}

/** The `)` that closes the `(` at `open`, or -1 when it is not closed. */
export function closingParen(s: string, open: number): number {
  return scanOutsideQuotes(s, open, (i, depth) => depth === 0 && s[i] === ')');
}

/** Where ` KEYWORD ` (spaces around it) first stands outside parentheses and quotes, or -1. */
export function topLevelKeyword(s: string, keyword: string): number {
  const word = ` ${keyword} `;
  return scanOutsideQuotes(s, 0, (i, depth) => depth === 0 && s[i] === ' ' && s.startsWith(word, i));
}

/** `s` cut at each comma outside parentheses and quotes (the parts as they are, untrimmed). */
export function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let start = 0;
  scanOutsideQuotes(s, 0, (i, depth) => {
    if (depth === 0 && s[i] === ',') {
      out.push(s.slice(start, i));
      start = i + 1;
    }
    return false;
  });
  out.push(s.slice(start));
  return out;
}
