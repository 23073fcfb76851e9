/**
 * `tally deploy --check` says what the deploy would refuse and what SQL the server refuses,
 * without changing anything: before, it printed a clean plan and exit 0 for a change the deploy
 * then refused (a view's state type no longer fitting its target) and for an endpoint whose SQL
 * the server cannot parse (served as 500s after a "successful" deploy).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.ts';
import { runCli } from '../support/capture-output.ts';
import { CliDatabases } from '../support/cli-databases.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const databases = new CliDatabases('deploycheck');

afterAll(async () => {
  removeProjects();
  await databases.dropAll();
});

const files = (amount: string, filter: string) => ({
  'tally.yaml': 'name: deploy-check-test\n',
  'datasources/tx.datasource.yaml': `columns:\n  - { name: id, type: String }\n  - { name: amount, type: "${amount}" }\nengine: { sorting_key: [id] }\n`,
  'datasources/totals.datasource.yaml':
    'columns:\n  - { name: id, type: String }\n  - { name: total, type: "AggregateFunction(sum, Decimal(18, 2))" }\nengine: { type: AggregatingMergeTree, sorting_key: [id] }\n',
  'pipes/totals_mv.pipe.yaml':
    'nodes:\n  - name: q\n    sql: SELECT id, sumState(amount) AS total FROM tx GROUP BY id\nmaterialize: { to: totals }\n',
  'pipes/some.pipe.yaml': `nodes:\n  - name: q\n    sql: SELECT id FROM tx WHERE ${filter}\n`,
  'endpoints/some.endpoint.yaml': 'pipe: some\n',
});

describe.each(BACKENDS)('tally deploy --check [%s]', (backend) => {
  it('exits 1 naming a view that would no longer fit its target; nothing changes', async () => {
    const env = databases.env(backend);
    const dir = writeProject(files('Decimal(18, 2)', "id = 'a'"));
    const first = await runCli(['deploy', '--project', dir], env, dir);
    expect(first.code, first.err).toBe(0);
    const clean = await runCli(['deploy', '--check', '--project', dir], env, dir);
    expect(clean.code, clean.err).toBe(0);

    // The same folder (the embedded engine's data lives in it), the amount widened.
    const wider = dir;
    writeFileSync(
      join(dir, 'datasources', 'tx.datasource.yaml'),
      files('Decimal(38, 2)', "id = 'a'")['datasources/tx.datasource.yaml'],
    );
    const r = await runCli(['deploy', '--check', '--project', wider], env, wider);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.err).toMatch(/totals_mv produces `total` as AggregateFunction\(sum, Decimal\(38, 2\)\)/);
    const json = await runCli(['deploy', '--check', '--json', '--project', wider], env, wider);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.out) as { steps: unknown[]; problems: Array<{ code: string }> };
    expect(doc.steps.length).toBeGreaterThan(0);
    expect(doc.problems.map((p) => p.code)).toContain('invalid-view');
    // Nothing changed: the plan is still the same.
    const again = await runCli(['deploy', '--check', '--json', '--project', wider], env, wider);
    expect((JSON.parse(again.out) as { steps: unknown[] }).steps.length).toBe(doc.steps.length);
  });

  it('an endpoint whose SQL this server refuses: exit 1 on ClickHouse 18.16, located in its pipe', async () => {
    const env = databases.env(backend);
    const dir = writeProject(files('Decimal(18, 2)', "id ILIKE 'a%'"));
    const r = await runCli(['deploy', '--check', '--project', dir], env, dir);
    if (backend === 'embedded') {
      expect(r.code, r.err).toBe(0);
      return;
    }
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.err).toMatch(/pipes\/some\.pipe\.yaml:\d+:\d+: error: .*18\.16/);
  });
});
