/**
 * Where in a data source file a refusal of its CREATE TABLE points: ClickHouse names the
 * identifier it could not resolve (`Missing columns: 'timestmp'`, `Unknown function nowww`) or
 * the key it refused (`Sorting key cannot contain constants`), never a line of ours.
 */
import type { SourceLocation } from '../errors.ts';

const KEYS: ReadonlyArray<[RegExp, string]> = [
  [/sorting key|order by/i, 'sorting_key'],
  [/primary key/i, 'primary_key'],
  [/partition key|partition by/i, 'partition_key'],
  [/\bttl\b/i, 'ttl'],
  [/version column|\bversion\b/i, 'version'],
];

/** The line (and column) of the name or key the refusal is about, or undefined when none is found. */
export function locateTableRefusal(
  fileText: string,
  file: string,
  message: string,
): SourceLocation | undefined {
  const lines = fileText.split('\n');
  // A function or identifier named as unknown first; then quoted names (the first is the one
  // missing, the rest are often what was available).
  const names = [
    ...[
      ...message.matchAll(
        /(?:[Uu]nknown (?:function|identifier)|[Ff]unction with name)[:\s]*`?([A-Za-z_][A-Za-z0-9_]*)/g,
      ),
    ].map((m) => m[1]!),
    ...[...message.matchAll(/'([A-Za-z_][A-Za-z0-9_]*)'/g)].map((m) => m[1]!).slice(0, 1),
  ];
  for (const name of names) {
    const word = new RegExp(`(?<![A-Za-z0-9_])${name}(?![A-Za-z0-9_])`);
    for (const [i, line] of lines.entries()) {
      const code = line.replace(/#.*$/, '');
      const m = word.exec(code);
      // A column's own `name:` would be where it is declared, not where it is misused.
      if (m && !new RegExp(`name:\\s*${name}\\b`).test(code)) return { file, line: i + 1, col: m.index + 1 };
    }
  }
  for (const [pattern, key] of KEYS) {
    if (!pattern.test(message)) continue;
    const at = lines.findIndex((l) => new RegExp(`^\\s*${key}\\s*:`).test(l));
    if (at >= 0) return { file, line: at + 1, col: lines[at]!.indexOf(key) + 1 };
  }
  return undefined;
}
