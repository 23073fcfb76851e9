import { isSeq, type Node } from 'yaml';
import type { SourceLocation } from '../errors.ts';
import type { YamlFile } from '../yaml/yaml-file.ts';
import type { YamlReader } from '../yaml/yaml-reader.ts';

/** Names of data sources, pipes, nodes, columns and params. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A string read from YAML with the node it came from, for locating problems about it later. */
export interface Located<T> {
  value: T;
  node: Node;
}

/** A string or a list of strings, each item with its node (`sorting_key: a` or `[a, b]`). */
export function stringItems(
  r: YamlReader,
  node: Node | null | undefined,
  what: string,
): Located<string>[] | undefined {
  if (node && isSeq(node)) {
    const out: Located<string>[] = [];
    for (const item of node.items as Node[]) {
      const s = r.string(item, `each item of ${what}`);
      if (s !== undefined) out.push({ value: s, node: item });
    }
    return out;
  }
  const s = r.string(node, `${what} (a string or a list of strings)`);
  return s === undefined || !node ? undefined : [{ value: s, node }];
}

/** Location of a character inside a one-line string scalar (a type, a JSONPath). */
export function locInScalar(yf: YamlFile, node: Node, offset: number): SourceLocation {
  const start = yf.contentStart(node);
  return { ...start, col: start.col + offset };
}

/** The location of the file itself (its first character). */
export function fileLoc(file: string): SourceLocation {
  return { file, line: 1, col: 1 };
}

/**
 * A mapping of ClickHouse setting names to values (`engine.settings`, an endpoint's `settings`):
 * names are identifiers, values strings or numbers (true/false become 1/0). `refuse(name)` may
 * give a reason a name is not allowed here. Returns the values and where each name is written.
 */
export function settingsMap(
  r: YamlReader,
  node: Node | null | undefined,
  what: string,
  refuse: (name: string) => string | undefined = () => undefined,
): { values: Record<string, string | number>; locs: Record<string, SourceLocation> } {
  const values: Record<string, string | number> = {};
  const locs: Record<string, SourceLocation> = {};
  for (const { name, keyNode, value } of r.namedMap(node, what)) {
    if (!IDENTIFIER.test(name)) {
      r.error(keyNode, 'invalid-name', `setting name \`${name}\` must be letters, digits and underscores`);
      continue;
    }
    const reason = refuse(name);
    if (reason !== undefined) {
      r.error(keyNode, 'invalid-value', `setting \`${name}\` is set by Tally: ${reason}`);
      continue;
    }
    const v = r.plain(value);
    if (typeof v === 'string' || typeof v === 'number') values[name] = v;
    else if (typeof v === 'boolean') values[name] = v ? 1 : 0;
    else {
      r.error(value ?? keyNode, 'expected-scalar', `setting \`${name}\` must be a string, number or boolean`);
      continue;
    }
    locs[name] = r.loc(keyNode);
  }
  return { values, locs };
}
