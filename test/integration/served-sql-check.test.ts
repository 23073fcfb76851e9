/**
 * The SQL a running Tally sends (endpoints' pipes, copy pipes) is tried on the tables as deployed:
 * after a deploy that changed them, and when `tally serve` / `tally dev` start. Before, a deploy
 * that dropped a column an endpoint reads said "Deployed" with exit 0, `tally serve` started on
 * it, and the endpoint answered 500s from its first request; `tally serve` on a database the
 * project was never deployed to started too, every request failing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.ts';
import { runCli } from '../support/capture-output.ts';
import { CliDatabases } from '../support/cli-databases.ts';
import { freePort } from '../support/free-port.ts';
import { spawnTally, until } from '../support/tally-process.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const databases = new CliDatabases('servedsql');

afterAll(async () => {
  removeProjects();
  await databases.dropAll();
});

const withNote = (note: boolean) =>
  `columns:\n  - { name: id, type: String }\n  - { name: amount, type: Int64 }\n${note ? '  - { name: note, type: String, default: "" }\n' : ''}engine: { sorting_key: [id] }\n`;

const FILES = {
  'tally.yaml': 'name: served-sql-test\n',
  'datasources/tx.datasource.yaml': withNote(true),
  'pipes/notes.pipe.yaml':
    'params:\n  id: { type: String, required: true }\nnodes:\n  - name: q\n    sql: |\n      SELECT id, amount,\n        note\n      FROM tx WHERE id = {{ id }}\n',
  'endpoints/notes.endpoint.yaml': 'pipe: notes\n',
  'pipes/total.pipe.yaml': 'nodes:\n  - name: q\n    sql: SELECT sum(amount) AS total FROM tx\n',
  'endpoints/total.endpoint.yaml': 'pipe: total\n',
};

describe.each(BACKENDS)('served SQL tried on the deployed tables [%s]', (backend) => {
  it('a deploy that drops a column an endpoint reads exits 1 naming the pipe, file and line; serve then refuses to start', async () => {
    const env = databases.env(backend);
    const dir = writeProject(FILES);
    const first = await runCli(['deploy', '--project', dir], env, dir);
    expect(first.code, first.err).toBe(0);

    writeFileSync(join(dir, 'datasources', 'tx.datasource.yaml'), withNote(false));
    const r = await runCli(['deploy', '--allow-destructive', '--project', dir], env, dir);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toMatch(/Deployed .*1 step/);
    // The line of `note` in the pipe file, and the deploy's own words on what it means.
    expect(r.err).toMatch(
      /pipes\/notes\.pipe\.yaml:7:\d+: error: ClickHouse .* refused node `q` of pipe `notes`/,
    );
    expect(r.err).toContain('deployed, but ClickHouse refuses 1 node of the pipes served');
    expect(r.err).not.toContain('total.pipe');

    // Nothing changes on a second deploy: nothing is tried, exit 0 (the plan is what is checked).
    const again = await runCli(['deploy', '--json', '--project', dir], env, dir);
    expect(again.code, again.err).toBe(0);

    const serve = spawnTally(['serve', '--project', dir, '--port', String(await freePort())], {
      ...env,
      TALLY_KAFKA_BROKERS: '',
    });
    expect(await serve.exited, serve.output()).toBe(1);
    expect(serve.output()).toMatch(/"msg":"ClickHouse refuses a served pipe".*pipes\/notes\.pipe\.yaml:7/);
    expect(serve.output()).toContain('error: ClickHouse refuses 1 node of the pipes served');
    expect(serve.output()).not.toContain('"msg":"serving"');

    // The pipe fixed: it starts and serves.
    writeFileSync(
      join(dir, 'pipes', 'notes.pipe.yaml'),
      FILES['pipes/notes.pipe.yaml'].replace('        note\n', "        '' AS note\n"),
    );
    const port = await freePort();
    const fixed = spawnTally(['serve', '--project', dir, '--port', String(port)], env);
    try {
      const res = await until(
        'the endpoint',
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/notes.json?id=a`);
          return res.status === 200 ? res : undefined;
        },
        fixed.output,
      );
      expect(((await res.json()) as { rows: number }).rows).toBe(0);
    } finally {
      fixed.child.kill('SIGTERM');
      await fixed.exited;
    }
  });

  it('a deploy of only a changed endpoint pipe (no DDL) tries it too', async () => {
    const env = databases.env(backend);
    const dir = writeProject(FILES);
    expect((await runCli(['deploy', '--project', dir], env, dir)).code).toBe(0);
    writeFileSync(
      join(dir, 'pipes', 'notes.pipe.yaml'),
      FILES['pipes/notes.pipe.yaml'].replace('        note\n', '        nope\n'),
    );
    const r = await runCli(['deploy', '--project', dir], env, dir);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toContain('endpoint notes: SQL of node q changed');
    expect(r.err).toMatch(/pipes\/notes\.pipe\.yaml:7:\d+: error: .*refused node `q` of pipe `notes`/);
  });

  it('the deploy --json document lists the refusals as problems', async () => {
    const env = databases.env(backend);
    const dir = writeProject(FILES);
    expect((await runCli(['deploy', '--project', dir], env, dir)).code).toBe(0);
    writeFileSync(join(dir, 'datasources', 'tx.datasource.yaml'), withNote(false));
    const r = await runCli(['deploy', '--allow-destructive', '--json', '--project', dir], env, dir);
    expect(r.code, r.err).toBe(1);
    const doc = JSON.parse(r.out) as {
      ok: boolean;
      problems: Array<{ code: string; location?: { file: string } }>;
    };
    expect(doc.ok).toBe(true);
    expect(doc.problems.map((p) => [p.code, p.location?.file])).toEqual([
      ['clickhouse-refused', 'pipes/notes.pipe.yaml'],
    ]);
  });

  it('refusals come in project order although pipes are tried several at a time', async () => {
    const env = databases.env(backend);
    // Nine endpoints; three read `note`, one of them through a chain of nodes (slower to try).
    const files: Record<string, string> = { ...FILES };
    const readsNote = new Set([2, 5, 8]);
    for (let i = 1; i <= 9; i++) {
      const col = readsNote.has(i) ? 'note' : 'amount';
      const chain =
        i === 5
          ? `  - name: a\n    sql: SELECT id, ${col} FROM tx\n  - name: b\n    sql: SELECT * FROM a\n  - name: q\n    sql: SELECT count() AS n FROM b\n`
          : `  - name: q\n    sql: SELECT ${col} FROM tx\n`;
      files[`pipes/p${i}.pipe.yaml`] = `nodes:\n${chain}`;
      files[`endpoints/p${i}.endpoint.yaml`] = `pipe: p${i}\n`;
    }
    const dir = writeProject(files);
    expect((await runCli(['deploy', '--project', dir], env, dir)).code).toBe(0);
    writeFileSync(join(dir, 'datasources', 'tx.datasource.yaml'), withNote(false));
    const r = await runCli(['deploy', '--allow-destructive', '--json', '--project', dir], env, dir);
    expect(r.code, r.err).toBe(1);
    const doc = JSON.parse(r.out) as { problems: Array<{ message: string; location?: { file: string } }> };
    expect(doc.problems.map((p) => p.location?.file)).toEqual([
      'pipes/notes.pipe.yaml',
      'pipes/p2.pipe.yaml',
      'pipes/p5.pipe.yaml',
      'pipes/p8.pipe.yaml',
    ]);
    // p5's refusal is said once, at node `a`, not again for the nodes that read it.
    expect(doc.problems[2]!.message).toContain('refused node `a` of pipe `p5`');
  });

  it('serve without --deploy on a database the project was never deployed to refuses to start, saying so', async () => {
    const env = databases.env(backend);
    const dir = writeProject(FILES);
    const serve = spawnTally(['serve', '--project', dir, '--port', String(await freePort())], env);
    expect(await serve.exited, serve.output()).toBe(1);
    expect(serve.output()).toMatch(/1 data source table of the project is missing from `[^`]+` on .*: tx/);
    expect(serve.output()).toContain('hint: deploy the project first');
    expect(serve.output()).not.toContain('"msg":"serving"');
  });

  it('dev starts on a pipe ClickHouse refuses, prints it, and serves the other endpoints', async () => {
    const env = databases.env(backend);
    const dir = writeProject({
      ...FILES,
      'pipes/notes.pipe.yaml': FILES['pipes/notes.pipe.yaml'].replace('        note\n', '        nope\n'),
    });
    const port = await freePort();
    const dev = spawnTally(['dev', '--no-kafka', '--project', dir, '--port', String(port)], env);
    try {
      await until(
        'serving',
        async () => (dev.output().includes('tally dev: serving') ? true : undefined),
        dev.output,
      );
      expect(dev.output()).toMatch(
        /pipes\/notes\.pipe\.yaml:7:\d+: error: ClickHouse .* refused node `q` of pipe `notes`/,
      );
      expect(dev.output()).toContain('their endpoints answer errors until the files are fixed');
      const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/total.json`);
      expect(res.status).toBe(200);
    } finally {
      dev.child.kill('SIGTERM');
      await dev.exited;
    }
  });
});
