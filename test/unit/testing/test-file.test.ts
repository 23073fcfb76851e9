import { describe, expect, it } from 'vitest';
import { formatProblem, type Problem } from '../../../src/errors.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { checkTestFiles } from '../../../src/testing/check-test-files.ts';
import { readTestFile } from '../../../src/testing/test-file.ts';

const REPO = new URL('../../..', import.meta.url).pathname;

function read(text: string, file = 'endpoints/balance.test.yaml') {
  const problems: Problem[] = [];
  const f = readTestFile(file, text, problems);
  return { f, problems: problems.map(formatProblem) };
}

describe('readTestFile', () => {
  it('reads cases: endpoint from the file name, params, rows, contains, errors', () => {
    const { f, problems } = read(
      [
        '# a comment',
        '- name: now',
        '  params: { account_id: 6ad87cf1, limit: 3 }',
        '  expected:',
        '    rows:',
        '      - { account_id: 6ad87cf1, balance: 2822, n: 12345678901234567890 }',
        '- name: some',
        '  endpoint: balances_snapshot',
        '  expected: { contains: [{ balance: 1 }], row_count: 4 }',
        '- name: bad',
        '  skip: not yet',
        '  expected: { status: 400, error: account_id }',
        '- name: any order',
        '  expected: { rows: [], ordered: false }',
      ].join('\n'),
    );
    expect(problems).toEqual([]);
    expect(f?.cases.map((c) => [c.name, c.endpoint, c.endpointWritten, c.loc.line])).toEqual([
      ['now', 'balance', false, 2],
      ['some', 'balances_snapshot', true, 7],
      ['bad', 'balance', false, 10],
      ['any order', 'balance', false, 13],
    ]);
    const [now, some, bad, any] = f!.cases;
    expect(now!.params).toEqual({ account_id: '6ad87cf1', limit: 3 });
    // A big integer keeps its digits.
    expect(now!.expected.rows).toEqual([
      { account_id: '6ad87cf1', balance: 2822, n: '12345678901234567890' },
    ]);
    expect(some!.expected).toEqual({ ordered: true, contains: [{ balance: 1 }], rowCount: 4 });
    expect(bad!.expected).toEqual({ ordered: true, status: 400, error: 'account_id' });
    expect(bad!.skip).toBe('not yet');
    expect(any!.expected.ordered).toBe(false);
  });

  it('reports every problem with file:line:col, with did-you-mean for keys', () => {
    const { f, problems } = read(
      [
        '- name: a',
        '  parms: { x: 1 }',
        '  expected: { rows: [] }',
        '- name: a',
        '  expected: { rows: [], contains: [] }',
        '- endpoint: balance',
        '  expected: { rows: [1] }',
        '- name: c',
        '  expected: { status: 200, error: boom }',
        '- name: d',
        '  expected: {}',
        '- name: e',
        '  expected: { rowz: [] }',
      ].join('\n'),
    );
    expect(f?.cases.map((c) => c.name)).toEqual([]);
    expect(problems).toEqual([
      'endpoints/balance.test.yaml:2:3: error: unknown key `parms` in case `a` (did you mean `params`?) (allowed keys: name, endpoint, params, token, skip, expected) [unknown-key]',
      'endpoints/balance.test.yaml:4:9: error: two cases are named `a` (the other is at line 1) [duplicate-test]',
      'endpoints/balance.test.yaml:5:25: error: case `a`: `rows` and `contains` exclude each other (`rows` is the whole answer; `contains` some rows of it) [invalid-test]',
      'endpoints/balance.test.yaml:6:3: error: test case 3 needs `name` [missing-key]',
      'endpoints/balance.test.yaml:7:22: error: each item of `rows` is a row: a mapping of column: value [expected-mapping]',
      'endpoints/balance.test.yaml:9:23: error: case `c`: an `error` comes with a status of 400 or more [invalid-test]',
      'endpoints/balance.test.yaml:11:13: error: case `d` expects nothing: give `rows`, `contains`, `row_count`, or `status` and `error` (run `tally test --update` to fill in `rows: []` from the actual answer) [invalid-test]',
      'endpoints/balance.test.yaml:13:15: error: unknown key `rowz` in `expected` of case `e` (did you mean `rows`?) (allowed keys: status, error, rows, ordered, contains, row_count) [unknown-key]',
      'endpoints/balance.test.yaml:13:13: error: case `e` expects nothing: give `rows`, `contains`, `row_count`, or `status` and `error` (run `tally test --update` to fill in `rows: []` from the actual answer) [invalid-test]',
    ]);
  });

  it('refuses a file that is not a list, and reports YAML syntax errors with their line', () => {
    expect(read('name: x\nexpected: {}\n').problems).toEqual([
      'endpoints/balance.test.yaml:1:1: error: a test file is a list of cases (`- name: ...`) (start each case with `- name:`; see docs/testing.md) [expected-list]',
    ]);
    expect(read('- name: x\n  expected: { rows: [\n').problems[0]).toMatch(
      /^endpoints\/balance\.test\.yaml:\d+:\d+: error: YAML: /,
    );
    expect(read('# nothing yet\n').problems).toEqual([
      'endpoints/balance.test.yaml:1:1: warning: endpoints/balance.test.yaml has no test cases [empty-test-file]',
    ]);
  });
});

describe('checkTestFiles', () => {
  const project = loadProjectOrThrow(REPO, { env: {} });

  it('names unknown endpoints, params and tokens with did-you-mean', () => {
    const problems: Problem[] = [];
    const { f } = read(
      [
        '- name: a',
        '  endpoint: balanse',
        '  expected: { rows: [] }',
        '- name: b',
        '  params: { acount_id: x }',
        '  expected: { rows: [] }',
        '- name: c',
        '  token: reader',
        '  expected: { rows: [] }',
      ].join('\n'),
    );
    checkTestFiles(project, [f!], problems);
    expect(problems.map(formatProblem)).toEqual([
      'endpoints/balance.test.yaml:2:13: error: no endpoint named `balanse` (did you mean `balance`?) [unknown-endpoint]',
      'endpoints/balance.test.yaml:5:13: error: endpoint `balance` has no param `acount_id` (did you mean `account_id`?) (its params: account_id, as_of) [unknown-param]',
      'endpoints/balance.test.yaml:8:10: error: no token named `reader` in tally.yaml (name a token of tally.yaml, or `none` to send no token) [unknown-token]',
    ]);
  });

  it('asks for an endpoint when the file name names none', () => {
    const problems: Problem[] = [];
    const { f } = read('- name: a\n  expected: { rows: [] }\n', 'tests/misc.test.yaml');
    checkTestFiles(project, [f!], problems);
    expect(problems.map(formatProblem)).toEqual([
      'tests/misc.test.yaml:1:3: error: case `a` names no endpoint, and none is named `misc` after the file (add `endpoint: <name>` to the case) [missing-endpoint]',
    ]);
  });
});
