import { readFileSync, writeFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, type Node, parseDocument, visit, type YAMLMap, type YAMLSeq } from 'yaml';
import { TallyError } from '../errors.ts';
import type { TestValue } from './test-file.ts';

export interface CaseUpdate {
  /** The case's position in the file's list. */
  index: number;
  /** Keys of `expected:` to set. */
  set: Readonly<Record<string, TestValue>>;
}

/**
 * Rewrites the `expected:` keys of some cases in place, through the yaml Document API: comments,
 * key order, the other cases and the other keys stay as they are. Rows are written one per line
 * as flow mappings (`- { account_id: a, balance: 1 }`). Refuses when the file changed since the
 * run read it (`readText`), rather than overwrite an edit.
 */
export function updateTestFile(path: string, readText: string, updates: readonly CaseUpdate[]): void {
  const now = readFileSync(path, 'utf8');
  if (now !== readText) {
    throw new TallyError('test-file-changed', `${path} changed during the run; not updated (run again)`);
  }
  const doc = parseDocument(now);
  const cases = doc.contents;
  if (!isSeq(cases)) throw new TallyError('invalid-test', `${path} is not a list of cases`);
  for (const u of updates) {
    const c = (cases as YAMLSeq).items[u.index];
    if (!isMap(c)) continue;
    const expected = c.get('expected', true);
    if (!isMap(expected)) continue;
    for (const [key, value] of Object.entries(u.set)) {
      const node = doc.createNode(value);
      quoteDates(node);
      if (isSeq(node) && (key === 'rows' || key === 'contains')) {
        for (const item of node.items) if (isMap(item)) (item as YAMLMap).flow = true;
        // An empty list reads better as `[]` than as a dangling key.
        if (node.items.length === 0) node.flow = true;
      }
      (expected as YAMLMap).set(key, node);
    }
  }
  writeFileSync(path, doc.toString({ lineWidth: 0 }));
}

/**
 * Dates and times in double quotes: YAML 1.2 reads them as strings either way, but YAML 1.1
 * tools (and readers) take a bare `2024-03-13 09:17:28` for a timestamp.
 */
function quoteDates(node: Node): void {
  visit(node, {
    Scalar(_key, s) {
      if (isScalar(s) && typeof s.value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(s.value))
        s.type = 'QUOTE_DOUBLE';
    },
  });
}
