import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyUpdates, updateTestFile } from '../../../src/testing/update-test-file.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

afterAll(removeProjects);

const TEXT = `# Tests of balance: the talk's account.

- name: now   # the balance today
  params: { account_id: 6ad87cf1 }
  expected:
    rows:
      - { account_id: 6ad87cf1, balance: 1 }

# an error case, untouched
- name: missing
  expected:
    status: 400
    error: account_id
`;

describe('updateTestFile', () => {
  it('rewrites the expected rows of a case in place; comments and other cases stay', () => {
    const dir = writeProject({ 'endpoints/balance.test.yaml': TEXT });
    const path = join(dir, 'endpoints/balance.test.yaml');
    updateTestFile(path, TEXT, [
      {
        index: 0,
        set: {
          rows: [
            { account_id: '6ad87cf1', balance: 2822, transactions: '3', updated_at: '2024-03-13 09:17:28' },
          ],
        },
      },
    ]);
    expect(readFileSync(path, 'utf8')).toBe(`# Tests of balance: the talk's account.

- name: now   # the balance today
  params: { account_id: 6ad87cf1 }
  expected:
    rows:
      - { account_id: 6ad87cf1, balance: 2822, transactions: "3", updated_at: "2024-03-13 09:17:28" }

# an error case, untouched
- name: missing
  expected:
    status: 400
    error: account_id
`);
  });

  it('refuses a file edited since it was read', () => {
    const dir = writeProject({ 'endpoints/balance.test.yaml': TEXT });
    expect(() => updateTestFile(join(dir, 'endpoints/balance.test.yaml'), `${TEXT}\n`, [])).toThrow(
      /changed during the run/,
    );
  });
});

describe('applyUpdates', () => {
  const text = [
    '- name: block',
    '  expected:',
    '    rows:',
    '      - { a: 1 }   # old',
    '      - { a: 2 }',
    '',
    '# next',
    '- name: inline',
    '  expected: { rows: [{ x: 1 }], row_count: 1 }',
    '- name: empty',
    '  expected:',
    '    rows: []',
    '- name: error',
    '  expected:',
    '    error: "boom"',
    '',
  ].join('\n');

  it('replaces only the values it updates, in the style they were written', () => {
    const out = applyUpdates(text, [
      { index: 0, set: { rows: [{ a: 3 }, { a: 'b, c' }, { a: '2024-01-01 00:00:00' }] } },
      { index: 1, set: { rows: [{ x: 2 }, { x: 3 }], row_count: 2 } },
      { index: 2, set: { rows: [{ y: null }] } },
      { index: 3, set: { error: 'param "x": bad' } },
    ]);
    expect(out).toBe(
      [
        '- name: block',
        '  expected:',
        '    rows:',
        '      - { a: 3 }',
        '      - { a: "b, c" }',
        '      - { a: "2024-01-01 00:00:00" }',
        '',
        '# next',
        '- name: inline',
        '  expected: { rows: [{ x: 2 }, { x: 3 }], row_count: 2 }',
        '- name: empty',
        '  expected:',
        '    rows:',
        '      - { y: null }',
        '- name: error',
        '  expected:',
        `    error: 'param "x": bad'`,
        '',
      ].join('\n'),
    );
    expect(applyUpdates(text, [{ index: 0, set: { rows: [] } }])).toContain('    rows: []\n\n# next');
  });
});
