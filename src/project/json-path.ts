import type { JsonPath } from './model.ts';

export type ParseJsonPathResult =
  | { ok: true; path: JsonPath }
  | { ok: false; message: string; offset: number };

const NAME = /^[A-Za-z_$][A-Za-z0-9_$-]*/;
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Parses the JSONPath subset columns use: `$` (the whole event), `$.a.b`, `$.a[0].b` and
 * `$['key with space']` (or double quotes). The result's `text` is canonical: dotted where the
 * key allows it, bracketed and single-quoted otherwise.
 */
export function parseJsonPath(text: string): ParseJsonPathResult {
  const fail = (message: string, offset: number): ParseJsonPathResult => ({ ok: false, message, offset });
  if (!text.startsWith('$')) return fail('a JSONPath starts with `$`, e.g. $.amount', 0);
  const segments: (string | number)[] = [];
  let i = 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '.') {
      const m = NAME.exec(text.slice(i + 1));
      if (!m) {
        if (text[i + 1] === '*') return fail('wildcards are not supported: name one key or index', i + 1);
        return fail('expected a key name after `.`', i + 1);
      }
      segments.push(m[0]);
      i += 1 + m[0].length;
    } else if (c === '[') {
      const q = text[i + 1];
      if (q === "'" || q === '"') {
        let key = '';
        let j = i + 2;
        for (;;) {
          if (j >= text.length)
            return fail(`unterminated ${q === "'" ? 'single' : 'double'}-quoted key`, i + 1);
          const ch = text[j]!;
          if (ch === '\\' && j + 1 < text.length) {
            key += text[j + 1];
            j += 2;
          } else if (ch === q) {
            j++;
            break;
          } else {
            key += ch;
            j++;
          }
        }
        if (text[j] !== ']') return fail('expected `]` after the quoted key', j);
        segments.push(key);
        i = j + 1;
      } else {
        const m = /^\d+/.exec(text.slice(i + 1));
        if (!m) {
          if (q === '*') return fail('wildcards are not supported: name one key or index', i + 1);
          if (q === '-') return fail('array indexes start at 0 and cannot be negative', i + 1);
          return fail("expected an index such as [0] or a quoted key such as ['my key']", i + 1);
        }
        if (text[i + 1 + m[0].length] !== ']')
          return fail('expected `]` after the index', i + 1 + m[0].length);
        segments.push(Number(m[0]));
        i += 2 + m[0].length;
      }
    } else {
      return fail(`unexpected \`${c}\`: continue the path with .key, [0] or ['key']`, i);
    }
  }
  return { ok: true, path: { text: jsonPathText(segments), segments } };
}

/** Canonical text of a path: `$`, `$.a[0]['b c']`. */
export function jsonPathText(segments: readonly (string | number)[]): string {
  let out = '$';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (PLAIN_KEY.test(s)) out += `.${s}`;
    else out += `['${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}']`;
  }
  return out;
}
