import { readFileSync, writeFileSync } from 'node:fs';
import {
  Document,
  isMap,
  isScalar,
  isSeq,
  type Node,
  type Pair,
  parseDocument,
  type Scalar,
  visit,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { TallyError } from '../errors.ts';
import type { TestValue } from './test-file.ts';

export interface CaseUpdate {
  /** The case's position in the file's list. */
  index: number;
  /** Keys of `expected:` to set; each must be there already (it is replaced, not added). */
  set: Readonly<Record<string, TestValue>>;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * Rewrites `expected:` values of some cases in place. The yaml Document API finds the value
 * nodes and their source ranges; only those ranges are replaced, so everything else in the file
 * (comments, blank lines, spacing, other cases) stays byte for byte. Rows are written one per
 * line as flow mappings (`- { account_id: a, balance: 1 }`), or inline where the list was
 * inline. Refuses when the file changed since the run read it (`readText`), rather than
 * overwrite an edit.
 */
export function updateTestFile(path: string, readText: string, updates: readonly CaseUpdate[]): void {
  const text = readFileSync(path, 'utf8');
  if (text !== readText) {
    throw new TallyError('test-file-changed', `${path} changed during the run; not updated (run again)`);
  }
  writeFileSync(path, applyUpdates(text, updates));
}

/** The text with the updates applied (pure). */
export function applyUpdates(text: string, updates: readonly CaseUpdate[]): string {
  const doc = parseDocument(text);
  const cases = doc.contents;
  if (!isSeq(cases)) throw new TallyError('invalid-test', 'a test file is a list of cases');
  const edits: Edit[] = [];
  for (const u of updates) {
    const c = (cases as YAMLSeq).items[u.index];
    const expected = isMap(c) ? c.get('expected', true) : undefined;
    if (!isMap(expected))
      throw new TallyError('invalid-test', `case ${u.index + 1} has no \`expected\` mapping`);
    for (const [key, value] of Object.entries(u.set)) {
      const pair = (expected as YAMLMap).items.find(
        (p) => isScalar(p.key) && (p.key as Scalar).value === key,
      ) as Pair<Scalar, Node> | undefined;
      const node = pair?.value;
      if (!pair || !node?.range) {
        throw new TallyError(
          'invalid-test',
          `case ${u.index + 1}: \`expected.${key}\` is not there to update`,
        );
      }
      edits.push(editFor(text, pair, node, value, Boolean((expected as YAMLMap).flow)));
    }
  }
  edits.sort((a, b) => b.start - a.start);
  let out = text;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

function editFor(
  text: string,
  pair: Pair<Scalar, Node>,
  node: Node,
  value: TestValue,
  inFlow: boolean,
): Edit {
  const [start, valueEnd] = node.range!;
  if (
    !Array.isArray(value) ||
    !value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))
  ) {
    return { start, end: valueEnd, text: inline(value) };
  }
  const rows = value.map((r) => inline(r));
  if (inFlow || (isSeq(node) && node.flow && rows.length === 0)) {
    return { start, end: valueEnd, text: `[${rows.join(', ')}]` };
  }
  if (rows.length === 0) {
    // A block list becomes `[]` after the key; what followed it (a newline) stays.
    const colon = text.indexOf(':', (pair.key as Scalar).range![1]);
    const old = text.slice(start, valueEnd);
    return { start: colon + 1, end: valueEnd, text: ` []${old.endsWith('\n') ? '\n' : ''}` };
  }
  if (isSeq(node) && !node.flow) {
    const indent = ' '.repeat(column(text, start));
    const old = text.slice(start, valueEnd);
    return {
      start,
      end: valueEnd,
      text: `${rows.map((r) => `- ${r}`).join(`\n${indent}`)}${old.endsWith('\n') ? '\n' : ''}`,
    };
  }
  // `rows: []` (or a scalar) in a block mapping: a block list under the key.
  const indent = ' '.repeat(column(text, (pair.key as Scalar).range![0]) + 2);
  let from = start;
  while (from > 0 && (text[from - 1] === ' ' || text[from - 1] === '\t')) from--;
  return { start: from, end: valueEnd, text: rows.map((r) => `\n${indent}- ${r}`).join('') };
}

/** A value as flow YAML on one line: `{ a: 1, b: "2024-03-13 09:17:28" }`, `400`, `"x: y"`. */
function inline(value: TestValue): string {
  const doc = new Document(value);
  if (doc.contents && (isMap(doc.contents) || isSeq(doc.contents))) doc.contents.flow = true;
  quoteDates(doc.contents as Node);
  return doc.toString({ lineWidth: 0 }).trimEnd();
}

function column(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

/**
 * Dates and times in double quotes: YAML 1.2 reads them as strings either way, but YAML 1.1
 * tools (and readers) take a bare `2024-03-13 09:17:28` for a timestamp.
 */
function quoteDates(node: Node | null): void {
  if (!node) return;
  const quote = (s: unknown) => {
    if (isScalar(s) && typeof s.value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(s.value))
      s.type = 'QUOTE_DOUBLE';
  };
  quote(node);
  visit(node, { Scalar: (_k, s) => quote(s) });
}
