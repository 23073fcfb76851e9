/**
 * `tally deploy --check` shows what changes without DDL: an endpoint's SQL, a data source's
 * dedup_key. On a copy of the example project, deployed for real: a change the plan used to
 * call "No changes" is listed, the deploy records it (a deployment row of its own), and the next
 * plan has nothing to say.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngine } from '../../src/clickhouse/create-engine.ts';
import { readDeployments, writeDeployment } from '../../src/deploy/bookkeeping.ts';
import { newDeployId } from '../../src/deploy/names.ts';
import { runtimeKeyOf } from '../../src/deploy/runtime-specs.ts';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { runCli } from '../support/capture-output.ts';
import { CliDatabases } from '../support/cli-databases.ts';
import { copyExample } from '../support/example-copy.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const databases = new CliDatabases('runtime');

afterAll(async () => {
  removeProjects();
  await databases.dropAll();
});

function edit(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  expect(text).toContain(from);
  writeFileSync(path, text.replace(from, to));
}

/**
 * Records a deployment as Tally did before runtime resources were recorded: the newest record,
 * under a new id, without their keys.
 */
async function recordAsBefore(backend: BackendName, database: string, dir: string): Promise<string> {
  const engine = await createEngine(
    {
      ...(backend === 'server' ? { url: inject('clickhouseUrl') } : {}),
      user: 'default',
      password: '',
      database,
      embeddedPath: join(dir, '.tally', 'chdb'),
    },
    { createDatabase: false },
  );
  try {
    const ctx = { database, capabilities: engine.capabilities };
    const [latest] = await readDeployments(engine, ctx, 1);
    const older = <T>(m: Record<string, T>) =>
      Object.fromEntries(Object.entries(m).filter(([k]) => runtimeKeyOf(k) === undefined));
    const id = newDeployId();
    await writeDeployment(engine, ctx, {
      ...latest!,
      id,
      resourceHashes: older(latest!.resourceHashes),
      resourceSpecs: older(latest!.resourceSpecs),
    });
    return id;
  } finally {
    await engine.close();
  }
}

describe.each(BACKENDS)('deploy --check with changes that need no DDL [%s]', (backend) => {
  const env = databases.env(backend);
  const dir = copyExample(writeProject({}));
  const run = (...argv: string[]) => runCli([...argv, '--project', dir], env, dir);
  const deployments = async () => {
    const r = await run('sql', 'SELECT count(DISTINCT id) AS n FROM tally_deployments', '--format', 'csv');
    expect(r.code, r.err).toBe(0);
    return Number(r.out.trim().split('\n').pop());
  };

  // The example project deployed; the plan then has no changes.
  beforeAll(async () => {
    const first = await run('deploy');
    expect(first.code, first.err).toBe(0);
    const check = await run('deploy', '--check');
    expect(check.code, check.err).toBe(0);
    expect(check.out).toMatch(/^No changes: 7 data source\(s\) and 2 view\(s\)/);
  });

  it('lists an endpoint whose SQL alone changed, and the deploy records it; then there are no changes', async () => {
    edit(dir, 'pipes/balance.pipe.yaml', 'HAVING transactions > 0', 'HAVING transactions >= 1');
    const check = await run('deploy', '--check');
    expect(check.code, check.err).toBe(0);
    expect(check.out).not.toMatch(/No changes/);
    expect(check.out).toMatch(
      /^No DDL changes: 7 data source\(s\) and 2 view\(s\) .*; 1 change\(s\) without DDL take effect when `tally serve` restarts\./,
    );
    expect(check.out).toContain(
      '\nAlso changes (no DDL):\n  endpoint balance: SQL of node balance changed\n',
    );

    const json = await run('deploy', '--check', '--json');
    expect(json.code, json.err).toBe(0);
    const plan = JSON.parse(json.out) as { steps: unknown[]; runtimeChanges: unknown[] };
    expect(plan.steps).toEqual([]);
    expect(plan.runtimeChanges).toEqual([
      expect.objectContaining({
        key: 'endpoint:balance',
        kind: 'endpoint',
        action: 'change',
        what: ['SQL of node balance changed'],
      }),
    ]);

    const before = await deployments();
    const deploy = await run('deploy');
    expect(deploy.code, deploy.err).toBe(0);
    expect(deploy.out).toMatch(/0 step\(s\) ran/);
    expect(deploy.out).toContain(
      '\nRecorded without DDL:\n  endpoint balance: SQL of node balance changed\n',
    );
    expect(await deployments()).toBe(before + 1);

    const again = await run('deploy', '--check');
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/^No changes: /);
    expect(again.out).not.toMatch(/without DDL/);
  });

  it('lists a dedup_key change with the restart it needs', async () => {
    edit(
      dir,
      'datasources/transactions.datasource.yaml',
      'dedup_key: transaction_id ',
      'dedup_key: [transaction_id, account_id] ',
    );
    const check = await run('deploy', '--check');
    expect(check.code, check.err).toBe(0);
    expect(check.out).toMatch(/^No DDL changes: /);
    expect(check.out).toContain(
      '  ingestion of transactions: dedup_key transaction_id -> (transaction_id, account_id)\n',
    );
    expect(check.out).toContain(
      '  -> dedup_key of transactions: restart every `tally serve` that ingests it; once one runs with the new key, those still on the old key store nothing to transactions (events answered 503) until restarted',
    );
    expect((await run('deploy')).code).toBe(0);
    expect((await run('deploy', '--check')).out).toMatch(/^No changes: /);
  });

  it("after a record without runtime resources (an earlier Tally's), lists none as changed and says this deploy records them", async () => {
    const old = await recordAsBefore(backend, env.TALLY_CLICKHOUSE_DATABASE!, dir);
    edit(dir, 'endpoints/balance.endpoint.yaml', 'cache: 2s', 'cache: 3s');
    const check = await run('deploy', '--check');
    expect(check.code, check.err).toBe(0);
    expect(check.out).toMatch(/^No changes: /);
    expect(check.out).toContain(
      `note: endpoints, copy pipes and ingestion settings are not in the record of deployment ${old} (an earlier Tally): this deploy records them as they are, and later plans list their changes`,
    );
    expect((await run('deploy')).code).toBe(0);
    const again = await run('deploy', '--check');
    expect(again.out).toMatch(/^No changes: /);
    expect(again.out).not.toMatch(/note:/);
  });
});
