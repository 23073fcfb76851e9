import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { updateTestFile } from '../../../src/testing/update-test-file.ts';
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

- name: now # the balance today
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
