import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/capture-output.ts';
import { freePort } from '../support/free-port.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');

const FILES: Record<string, string> = {
  'tally.yaml': 'name: dev-loop\n',
  'datasources/events.datasource.yaml': [
    'columns:',
    '  - { name: id, type: String }',
    '  - { name: amount, type: Int64 }',
    'engine: { sorting_key: [id] }',
    'dedup_key: id',
  ].join('\n'),
  'pipes/total.pipe.yaml': [
    'nodes:',
    '  - name: total',
    '    sql: SELECT sum(amount) AS total FROM events',
  ].join('\n'),
  'endpoints/total.endpoint.yaml': 'pipe: total\n',
  'fixtures/events.ndjson': [
    '{"id":"a","amount":1}',
    '{"id":"b","amount":2}',
    '{"id":"b","amount":2}',
    '{"id":"c","amount":"x"}',
  ].join('\n'),
};

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

// The daily loop, end to end: a spawned `tally dev` on the embedded engine, files edited on disk.
describe('tally dev (spawned, embedded engine)', () => {
  let dir: string;
  let child: ChildProcess;
  let url: string;
  let output = '';

  beforeAll(async () => {
    dir = writeProject(FILES);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(
      process.execPath,
      [join(REPO, 'bin', 'tally.js'), 'dev', '--project', dir, '--port', String(port)],
      {
        env: { ...process.env, NO_COLOR: '1', TALLY_CLICKHOUSE_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (d) => (output += String(d)));
    child.stderr?.on('data', (d) => (output += String(d)));
    await until('the watcher', async () => (output.includes('watching') ? true : undefined), 60_000);
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    removeProjects();
  });

  const total = async () => {
    const res = await fetch(`${url}/v0/pipes/total.json`);
    return ((await res.json()) as { data: Array<{ total: number }> }).data[0]?.total;
  };

  it('deploys and loads fixtures through the ingest path (dedup and quarantine apply)', async () => {
    expect(output).toContain('loaded fixtures/events.ndjson: 2 rows, 1 quarantined, 1 duplicate dropped');
    expect(await total()).toBe(3);
  });

  it('serves a changed pipe after a save, without a restart', async () => {
    // A scratch file of events beside the project is not part of it: no reload.
    const before = output.length;
    writeFileSync(join(dir, 'refund.ndjson'), '{"id":"r1","amount":-1}\n');
    await new Promise((r) => setTimeout(r, 600));
    expect(output.slice(before)).not.toMatch(/refund\.ndjson|reloaded/);
    const file = join(dir, 'pipes/total.pipe.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('sum(amount) AS total', 'sum(amount) * 10 AS total'),
    );
    expect(await until('the new answer', async () => ((await total()) === 30 ? 30 : undefined))).toBe(30);
    expect(output).toMatch(/✓ pipes\/total\.pipe\.yaml: reloaded in \d+ ms/);
    // No DDL, but said: what of the endpoint changed.
    expect(output).toMatch(
      /reloaded in \d+ ms \(0 ClickHouse changes\)\n {2}endpoint total: SQL of node \w+ changed\n/,
    );
  });

  it('keeps serving the last good version when a file breaks, prints the problem with file:line, recovers on fix', async () => {
    const file = join(dir, 'pipes/total.pipe.yaml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('FROM events', 'FROM evnts'));
    await until('the problem', async () =>
      output.includes('still serving the last good version') ? true : undefined,
    );
    expect(output).toMatch(/pipes\/total\.pipe\.yaml:3:\d+: error: .*evnts.*did you mean `events`/);
    expect(await total()).toBe(30);
    writeFileSync(file, good.replace('* 10', '* 100'));
    expect(await until('the fixed answer', async () => ((await total()) === 300 ? 300 : undefined))).toBe(
      300,
    );
  });

  it('keeps serving the last good version when ClickHouse refuses a changed pipe (unknown column), naming the line', async () => {
    const file = join(dir, 'pipes/total.pipe.yaml');
    const good = readFileSync(file, 'utf8');
    const before = output.length;
    writeFileSync(file, good.replace('sum(amount)', 'sum(amountt)'));
    await until('the refusal', async () =>
      output.slice(before).includes('still serving the last good version') ? true : undefined,
    );
    expect(output.slice(before)).toMatch(
      /pipes\/total\.pipe\.yaml:3:\d+: error: ClickHouse .* refused node `total` of pipe `total`: .*amountt/,
    );
    expect(await total()).toBe(300);
    writeFileSync(file, good);
    await until('the good file again', async () =>
      output.slice(before).includes('✓ pipes/total.pipe.yaml: reloaded') ? true : undefined,
    );
    expect(await total()).toBe(300);
    // The refused version was neither deployed nor recorded: the good file again is no change.
    const back = output.slice(output.lastIndexOf('✓ pipes/total.pipe.yaml: reloaded'));
    expect(back).toContain('(0 ClickHouse changes)');
    expect(back).not.toMatch(/endpoint total: SQL of node/);
  });

  it('drops a data source whose file is removed while it is empty (nothing is lost: no flag needed)', async () => {
    const file = join(dir, 'datasources/scratch.datasource.yaml');
    const before = output.length;
    writeFileSync(file, 'columns:\n  - { name: id, type: UInt32 }\nengine: { sorting_key: [id] }\n');
    await until('the new data source', async () =>
      /✓ datasources\/scratch\.datasource\.yaml: reloaded in \d+ ms \(1 ClickHouse change/.test(
        output.slice(before),
      )
        ? true
        : undefined,
    );
    // Each change is said, under the reload line.
    expect(output.slice(before)).toMatch(
      /reloaded in \d+ ms \(1 ClickHouse change\)\n {2}create table scratch and scratch_quarantine\n/,
    );
    const at = output.length;
    rmSync(file);
    await until('the drop', async () =>
      /✓ datasources\/scratch\.datasource\.yaml: reloaded/.test(output.slice(at)) ? true : undefined,
    );
    expect(output.slice(at)).not.toMatch(/refusing/);
    expect(output.slice(at)).toMatch(/\n {2}drop table scratch/);
    expect(await total()).toBe(300);
  });

  it('refuses to drop a data source that holds rows, saying how to accept it in dev terms', async () => {
    const file = join(dir, 'datasources/kept.datasource.yaml');
    const before = output.length;
    writeFileSync(file, 'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n');
    await until('the new data source', async () =>
      output.slice(before).includes('✓ datasources/kept.datasource.yaml: reloaded') ? true : undefined,
    );
    const posted = await fetch(`${url}/v0/events?name=kept&wait=true`, {
      method: 'POST',
      body: '{"id":"k1"}\n',
    });
    expect(posted.status, await posted.clone().text()).toBe(200);
    const at = output.length;
    rmSync(file);
    await until('the refusal', async () =>
      output.slice(at).includes('still serving the last good version') ? true : undefined,
    );
    const said = output.slice(at);
    expect(said).toMatch(
      /refusing to deploy: 1 step\(s\) would lose data:\n {2}- step \d+ \(drop table kept/,
    );
    expect(said).toContain(
      'hint: put the file back, or stop dev and start it again with `tally dev --allow-destructive`',
    );
    expect(said).not.toContain('run again with --allow-destructive');
    writeFileSync(file, 'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n');
    await until('the file back', async () =>
      output.slice(at).includes('✓ datasources/kept.datasource.yaml: reloaded') ? true : undefined,
    );
  });

  it('tally quarantine and tally sql read through the running dev (it holds the folder); writes are refused', async () => {
    const env = { TALLY_CLICKHOUSE_URL: '' };
    const q = await runCli(['quarantine', 'events', '--json', '--project', dir], env, dir);
    expect(q.code, q.err).toBe(0);
    const refused = JSON.parse(q.out) as { events: Array<{ columns: string[]; raw: string }> };
    expect(refused.events.map((e) => [e.columns, e.raw])).toEqual([[['amount'], '{"id":"c","amount":"x"}']]);
    const s = await runCli(
      ['sql', 'SELECT count() AS n FROM events', '--format', 'json', '--project', dir],
      env,
      dir,
    );
    expect(s.code, s.err).toBe(0);
    expect(JSON.parse(s.out).data).toEqual([{ n: 2 }]);
    const drop = await runCli(['sql', 'DROP TABLE events', '--project', dir], env, dir);
    expect(drop.code).toBe(2);
    expect(drop.err).toMatch(
      /tally dev \(http:\/\/127\.0\.0\.1:\d+\) holds the embedded folder .*: this command reads through it, and it takes reads only/,
    );
    expect(await total()).toBe(300);
  });

  it("dev's engine route: the folder's secret, no browser, one statement that reads; nothing else", async () => {
    const file = JSON.parse(readFileSync(join(dir, '.tally', 'chdb.server.json'), 'utf8')) as {
      secret: string;
    };
    expect(statSync(join(dir, '.tally', 'chdb.server.json')).mode & 0o077).toBe(0);
    const secret = { 'x-tally-dev-secret': file.secret };
    const query = (sql: string, headers: Record<string, string> = {}) =>
      fetch(`${url}/v0/_tally/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...secret, ...headers },
        body: JSON.stringify({ sql, format: 'JSON' }),
      });
    expect((await query('SELECT count() AS n FROM events')).status).toBe(200);
    // Without the secret, with a wrong one, from a page (Origin), or named by another host (rebinding).
    expect((await fetch(`${url}/v0/_tally/engine`)).status).toBe(403);
    expect((await query('SELECT 1', { 'x-tally-dev-secret': 'guess' })).status).toBe(403);
    expect((await query('SELECT 1', { origin: 'https://evil.example' })).status).toBe(403);
    // fetch sets Host itself: a DNS-rebound page's request, as node:http sends it.
    const rebound = await new Promise<number | undefined>((resolve, reject) => {
      const body = JSON.stringify({ sql: 'SELECT 1', format: 'JSON' });
      const req = request(
        `${url}/v0/_tally/query`,
        {
          method: 'POST',
          headers: { host: 'evil.example:7070', 'content-type': 'application/json', ...secret },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(rebound).toBe(403);
    const plain = await fetch(`${url}/v0/_tally/query`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...secret },
      body: JSON.stringify({ sql: 'SELECT 1', format: 'JSON' }),
    });
    expect(plain.status).toBe(415);
    // Writes in any disguise: refused before ClickHouse sees them.
    for (const sql of [
      'DROP TABLE events',
      'DROP TABLE events; SELECT 1',
      'SELECT 1; DROP TABLE events; -- bye',
      "INSERT INTO events VALUES ('z', 1)",
      'USE system; SELECT 1',
      'SET readonly = 0',
      "SELECT 1 INTO OUTFILE '/tmp/tally-outfile-test'",
    ]) {
      const res = await query(sql);
      expect(res.status, sql).toBe(400);
    }
    expect(await total()).toBe(300);
    const info = await fetch(`${url}/v0/_tally/engine`, { headers: secret });
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({ database: 'tally' });
  });

  it('stops on SIGTERM after finishing', async () => {
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(output).toContain('stopping');
  });
});

// A start that cannot serve must not leave a project that later serves empty data.
describe('tally dev start-up (spawned, embedded engine)', () => {
  afterAll(removeProjects);

  /** Runs `tally dev` until it serves (or exits); resolves with its output, stopped. */
  async function devUntilServing(
    dir: string,
    port: number,
  ): Promise<{ code: number | null; output: string }> {
    const child = spawn(
      process.execPath,
      [join(REPO, 'bin', 'tally.js'), 'dev', '--project', dir, '--port', String(port)],
      { env: { ...process.env, NO_COLOR: '1', TALLY_CLICKHOUSE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout?.on('data', (d) => (output += String(d)));
    child.stderr?.on('data', (d) => (output += String(d)));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const serving = until(
      'serving or an exit',
      async () => (output.includes('watching') ? true : undefined),
      60_000,
    );
    const first = await Promise.race([exited.then((code) => ({ code })), serving.then(() => undefined)]);
    if (first) return { code: first.code, output };
    child.kill('SIGTERM');
    return { code: await exited, output };
  }

  it('a taken port fails before deploying; the next start loads the fixtures; a later one does not again', async () => {
    const dir = writeProject(FILES);
    const taken = createNetServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const takenPort = (taken.address() as { port: number }).port;
    try {
      const failed = await devUntilServing(dir, takenPort);
      expect(failed.code).toBe(2);
      expect(failed.output).toContain(`port ${takenPort} on 127.0.0.1 is already in use`);
      expect(failed.output).toContain('--port N');
      expect(failed.output).not.toMatch(/deployed to/);
      expect(existsSync(join(dir, '.tally', 'chdb'))).toBe(false);
    } finally {
      await new Promise((r) => taken.close(r));
    }
    // Deployed by another command, never fed: dev still loads the samples.
    execFileSync(process.execPath, [join(REPO, 'bin', 'tally.js'), 'deploy', '--project', dir], {
      env: { ...process.env, TALLY_CLICKHOUSE_URL: '' },
    });
    const second = await devUntilServing(dir, await freePort());
    expect(second.output).toMatch(/deployed to .*: 0 change\(s\)/);
    expect(second.output).toContain(
      'loaded fixtures/events.ndjson: 2 rows, 1 quarantined, 1 duplicate dropped',
    );
    const third = await devUntilServing(dir, await freePort());
    expect(third.output).toContain('watching');
    expect(third.output).not.toContain('loaded fixtures');
  });
});
