/**
 * Endpoint test files (`<name>.test.yaml`): a list of cases, each calling one endpoint with
 * params and saying what it must answer. Read strictly, like the project files: every problem
 * is reported with file:line:col, all at once. See docs/testing.md for the format.
 */
import { isMap, isScalar, isSeq, type Node, type Scalar } from 'yaml';
import type { Problem, SourceLocation } from '../errors.ts';
import { fitsDouble, NUMERIC } from '../util/exact-json.ts';
import { YamlFile } from '../yaml/yaml-file.ts';
import { type MapView, YamlReader } from '../yaml/yaml-reader.ts';

export const TEST_FILE_SUFFIX = '.test.yaml';

/** A value as written in a test file: JSON-like (scalars, lists, mappings). */
export type TestValue = null | boolean | number | string | TestValue[] | { [key: string]: TestValue };
export type TestRow = Readonly<Record<string, TestValue>>;

/** What a case expects. */
export interface Expectation {
  /** The HTTP status; when absent, 200, or any status of 400 or more with `error`. */
  status?: number;
  /** A part of the error message the answer must contain. */
  error?: string;
  /** The exact rows of the answer. */
  rows?: readonly TestRow[];
  /** With `rows`: false compares them in any order. */
  ordered: boolean;
  /** Rows (or parts of rows: only the columns given) the answer must contain, in any order. */
  contains?: readonly TestRow[];
  /** How many rows the answer has. */
  rowCount?: number;
}

export interface TestCase {
  /** Position in the file's list (0-based), for --update. */
  index: number;
  name: string;
  endpoint: string;
  /** Whether `endpoint:` was written, or taken from the file name. */
  endpointWritten: boolean;
  params: Readonly<Record<string, TestValue>>;
  /** A token name from tally.yaml, `none` for no token; undefined: any token that may read. */
  token?: string;
  /** Set when the case is skipped: the reason, or ''. */
  skip?: string;
  expected: Expectation;
  loc: SourceLocation;
  /** Where each param name and the token are written, for problems found against the project. */
  paramLocs: Readonly<Record<string, SourceLocation>>;
  endpointLoc: SourceLocation;
  tokenLoc?: SourceLocation;
}

export interface TestFile {
  /** Path relative to the project root, with forward slashes. */
  file: string;
  /** The text the cases were read from (updates check it has not changed since). */
  text: string;
  cases: TestCase[];
}

const CASE_KEYS = ['name', 'endpoint', 'params', 'token', 'skip', 'expected'] as const;
const EXPECTED_KEYS = ['status', 'error', 'rows', 'ordered', 'contains', 'row_count'] as const;

/**
 * Reads one test file (undefined when it is not a list of cases at all). The endpoint of a case defaults to the file's name (`balance.test.yaml`
 * tests `balance`). Whether endpoints, params and tokens exist is checked by checkTestFiles,
 * which sees the project.
 */
export function readTestFile(file: string, text: string, problems: Problem[]): TestFile | undefined {
  const before = problems.length;
  const yf = YamlFile.parse(file, text, problems);
  if (problems.length > before) return undefined;
  const r = new YamlReader(yf, problems);
  const out: TestFile = { file, text, cases: [] };
  if (yf.root === null || (isScalar(yf.root) && yf.root.value === null)) {
    r.warn(yf.root, 'empty-test-file', `${file} has no test cases`);
    return out;
  }
  if (!isSeq(yf.root)) {
    r.error(
      yf.root,
      'expected-list',
      'a test file is a list of cases (`- name: ...`)',
      'start each case with `- name:`; see docs/testing.md',
    );
    return undefined;
  }
  const stem = baseName(file).slice(0, -TEST_FILE_SUFFIX.length);
  const names = new Map<string, SourceLocation>();
  (yf.root.items as Node[]).forEach((node, index) => {
    const name = peekName(node);
    if (name !== undefined) {
      const seen = names.get(name);
      if (seen) {
        r.error(
          caseNameNode(node),
          'duplicate-test',
          `two cases are named \`${name}\` (the other is at line ${seen.line})`,
        );
      } else names.set(name, r.loc(node));
    }
    const c = readCase(r, node, index, stem);
    if (c) out.cases.push(c);
  });
  // Cases with problems are left out; the rest are returned so they can be checked against the
  // project too, and every problem reported in one go.
  return out;
}

function readCase(r: YamlReader, node: Node, index: number, stem: string): TestCase | undefined {
  const errorsBefore = countErrors(r);
  const peeked = peekName(node);
  const m = r.map(node, peeked !== undefined ? `case \`${peeked}\`` : `test case ${index + 1}`, CASE_KEYS);
  if (!m) return undefined;
  const nameNode = m.require('name');
  const name = nameNode === undefined ? undefined : r.string(nameNode, 'name');
  if (name !== undefined && name.trim() === '') r.error(nameNode, 'invalid-test', 'name must not be empty');
  const what = name ? `case \`${name}\`` : `test case ${index + 1}`;

  const endpointNode = m.get('endpoint');
  const endpoint = endpointNode === undefined ? stem : r.string(endpointNode, 'endpoint (an endpoint name)');

  const params: Record<string, TestValue> = {};
  const paramLocs: Record<string, SourceLocation> = {};
  if (m.has('params')) {
    for (const { name: p, keyNode, value } of r.namedMap(m.get('params'), `params of ${what}`)) {
      const v = readParamValue(r, value, p);
      if (v !== undefined) params[p] = v;
      paramLocs[p] = r.loc(keyNode);
    }
  }

  let token: string | undefined;
  if (m.has('token')) token = r.string(m.get('token'), 'token (a token name from tally.yaml, or none)');

  let skip: string | undefined;
  if (m.has('skip')) {
    const s = m.get('skip');
    if (s && isScalar(s) && typeof s.value === 'boolean') skip = s.value ? '' : undefined;
    else skip = r.string(s, 'skip (true, or the reason as a string)');
  }

  const expectedNode = m.require('expected');
  const expected = expectedNode === undefined ? undefined : readExpected(r, expectedNode, what);
  if (name === undefined || endpoint === undefined || !expected || countErrors(r) > errorsBefore) {
    return undefined;
  }
  return {
    index,
    name,
    endpoint,
    endpointWritten: endpointNode !== undefined,
    params,
    ...(token !== undefined ? { token } : {}),
    ...(skip !== undefined ? { skip } : {}),
    expected,
    loc: r.loc(node),
    paramLocs,
    endpointLoc: r.loc(endpointNode ?? nameNode ?? node),
    ...(token !== undefined ? { tokenLoc: r.loc(m.get('token')) } : {}),
  };
}

function readExpected(r: YamlReader, node: Node | null, what: string): Expectation | undefined {
  const m = r.map(node, `\`expected\` of ${what}`, EXPECTED_KEYS);
  if (!m) return undefined;
  const errorsBefore = countErrors(r);
  const out: Expectation = { ordered: true };
  if (m.has('status')) {
    const s = r.number(m.get('status'), 'status (an HTTP status code)', { integer: true, min: 100 });
    if (s !== undefined && s > 599)
      r.error(m.get('status'), 'invalid-test', 'status must be from 100 to 599');
    if (s !== undefined) out.status = s;
  }
  if (m.has('error')) {
    const e = r.string(m.get('error'), 'error (a part of the expected error message)');
    if (e !== undefined) out.error = e;
  }
  if (m.has('rows')) {
    const rows = readRows(r, m.get('rows'), 'rows');
    if (rows) out.rows = rows;
  }
  if (m.has('contains')) {
    const rows = readRows(r, m.get('contains'), 'contains');
    if (rows) out.contains = rows;
  }
  if (m.has('ordered')) out.ordered = r.boolean(m.get('ordered'), 'ordered') ?? true;
  if (m.has('row_count')) {
    const n = r.number(m.get('row_count'), 'row_count', { integer: true, min: 0 });
    if (n !== undefined) out.rowCount = n;
  }
  checkCombination(r, m, out, what);
  return countErrors(r) > errorsBefore ? undefined : out;
}

/** Exactly one kind of expectation: an error, or rows (exact, contains and/or a count). */
function checkCombination(r: YamlReader, m: MapView, e: Expectation, what: string): void {
  const rowsKinds = (['rows', 'contains', 'row_count'] as const).filter((k) => m.has(k));
  if (e.rows && e.contains) {
    r.error(
      m.keyNode('contains'),
      'invalid-test',
      `${what}: \`rows\` and \`contains\` exclude each other`,
      '`rows` is the whole answer; `contains` some rows of it',
    );
  }
  if (e.rows && e.rowCount !== undefined) {
    r.error(m.keyNode('row_count'), 'invalid-test', `${what}: \`rows\` already fixes the row count`);
  }
  if (m.has('ordered') && !m.has('rows')) {
    r.error(m.keyNode('ordered'), 'invalid-test', `${what}: \`ordered\` goes with \`rows\``);
  }
  if (m.has('error')) {
    if (rowsKinds.length > 0) {
      r.error(
        m.keyNode(rowsKinds[0]!),
        'invalid-test',
        `${what}: an error answer has no rows; expect either \`error\` or rows`,
      );
    }
    if (e.status !== undefined && e.status < 400) {
      r.error(m.get('status'), 'invalid-test', `${what}: an \`error\` comes with a status of 400 or more`);
    }
  } else if (rowsKinds.length === 0 && !(e.status !== undefined && e.status >= 400)) {
    r.error(
      m.node,
      'invalid-test',
      `${what} expects nothing: give \`rows\`, \`contains\`, \`row_count\`, or \`status\` and \`error\``,
      'run `tally test --update` to fill in `rows: []` from the actual answer',
    );
  }
  if (e.status !== undefined && e.status >= 400 && rowsKinds.length > 0) {
    r.error(m.get('status'), 'invalid-test', `${what}: a status of ${e.status} answers no rows`);
  }
}

function readRows(r: YamlReader, node: Node | null | undefined, key: string): TestRow[] | undefined {
  const items = r.list(node, `\`${key}\` (a list of rows)`);
  if (!items) return undefined;
  const rows: TestRow[] = [];
  for (const item of items) {
    if (!isMap(item)) {
      r.error(item, 'expected-mapping', `each item of \`${key}\` is a row: a mapping of column: value`);
      continue;
    }
    const row: Record<string, TestValue> = {};
    for (const { name, value } of r.namedMap(item, `a row of \`${key}\``)) {
      row[name] = toValue(value);
    }
    rows.push(row);
  }
  return rows;
}

function readParamValue(r: YamlReader, node: Node | null, name: string): TestValue | undefined {
  if (node && isMap(node)) {
    r.error(node, 'invalid-test', `param \`${name}\` must be a value or a list of values, not a mapping`);
    return undefined;
  }
  return toValue(node);
}

/**
 * The plain value of a node. A number a double cannot hold (a big integer, a decimal of many
 * digits) keeps its digits as text (a JS number would round it); comparisons treat a numeric
 * string and a number alike, so nothing is lost.
 */
export function toValue(node: Node | null | undefined): TestValue {
  if (!node) return null;
  if (isScalar(node)) {
    const v = (node as Scalar).value;
    if (typeof v === 'number') {
      const src = (node as Scalar & { source?: string }).source;
      if (typeof src === 'string' && NUMERIC.test(src) && !fitsDouble(src.trim(), v)) return src.trim();
    }
    if (v === null || v === undefined) return null;
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
    return String(v);
  }
  if (isSeq(node)) return (node.items as Node[]).map((n) => toValue(n));
  if (isMap(node)) {
    const out: Record<string, TestValue> = {};
    for (const pair of node.items) {
      const k = isScalar(pair.key) ? String((pair.key as Scalar).value) : String(pair.key);
      out[k] = toValue(pair.value as Node | null);
    }
    return out;
  }
  return null;
}

/** The case's name when it is written as a string, before the case is read. */
function peekName(node: Node): string | undefined {
  const n = caseNameNode(node);
  return n !== node && isScalar(n) && typeof n.value === 'string' ? n.value : undefined;
}

function caseNameNode(node: Node): Node {
  if (isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && (p.key as Scalar).value === 'name');
    if (pair) return (pair.value as Node | null) ?? node;
  }
  return node;
}

function countErrors(r: YamlReader): number {
  return r.problems.filter((p) => p.severity === 'error').length;
}

function baseName(file: string): string {
  const i = file.lastIndexOf('/');
  return i === -1 ? file : file.slice(i + 1);
}
