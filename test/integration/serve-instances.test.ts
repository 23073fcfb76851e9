import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { scratchDatabase } from '../support/backends.ts';
import { freePort } from '../support/free-port.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');

const FILES: Record<string, string> = {
  'tally.yaml': 'name: two-instances\n',
  'datasources/events.datasource.yaml': [
    'columns:',
    '  - { name: id, type: String }',
    '  - { name: amount, type: Int64 }',
    'engine: { type: ReplacingMergeTree, sorting_key: [id] }',
    'dedup_key: id',
  ].join('\n'),
  'pipes/total.pipe.yaml':
    'nodes:\n  - name: total\n    sql: SELECT count() AS n, sum(amount) AS total FROM events FINAL\n',
  'endpoints/total.endpoint.yaml': 'pipe: total\n',
};

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// `tally serve` keeps no state others need: two instances on one ClickHouse server serve the same
// answers, and events taken by one are answered by the other.
describe('two `tally serve` instances on the server back end', () => {
  const children: ChildProcess[] = [];
  const urls: string[] = [];

  beforeAll(async () => {
    const dir = writeProject(FILES);
    const env = {
      ...process.env,
      TALLY_CLICKHOUSE_URL: inject('clickhouseUrl'),
      TALLY_CLICKHOUSE_DATABASE: scratchDatabase('serve'),
      TALLY_KAFKA_BROKERS: inject('kafkaBrokers'),
    };
    for (const deploy of [true, false]) {
      const port = await freePort();
      const args = [join(REPO, 'bin', 'tally.js'), 'serve', '--project', dir, '--port', String(port)];
      if (deploy) args.push('--deploy');
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout?.on('data', (d) => (out += String(d)));
      child.stderr?.on('data', (d) => (out += String(d)));
      children.push(child);
      urls.push(`http://127.0.0.1:${port}`);
      // The second starts once the first has deployed.
      await until('serving', async () => (out.includes('"msg":"serving"') ? true : undefined));
    }
  });

  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await new Promise((r) => c.once('exit', r));
      }
    }
    removeProjects();
  });

  const total = async (url: string) => {
    const res = await fetch(`${url}/v0/pipes/total.json`);
    return ((await res.json()) as { data: Array<{ n: number; total: number }> }).data[0];
  };

  it('answer the same, and see each other’s events', async () => {
    const [a, b] = urls as [string, string];
    const post = (url: string, body: string) =>
      fetch(`${url}/v0/events?name=events&wait=true`, { method: 'POST', body }).then((r) => r.json());
    expect(await post(a, '{"id":"1","amount":10}\n{"id":"2","amount":20}')).toMatchObject({
      successful_rows: 2,
    });
    expect(await post(b, '{"id":"3","amount":30}\n{"id":"1","amount":10}')).toMatchObject({
      successful_rows: 1,
    });
    expect(await total(a)).toEqual({ n: 3, total: 60 });
    expect(await total(b)).toEqual({ n: 3, total: 60 });
  });

  it('the other keeps answering when one stops', async () => {
    const first = children[0]!;
    first.kill('SIGTERM');
    expect(await new Promise((r) => first.once('exit', r))).toBe(0);
    expect(await total(urls[1]!)).toEqual({ n: 3, total: 60 });
  });

  it('without --deploy, refuses to start with an endpoint setting the server lacks, naming the file and line', async () => {
    const dir = writeProject({
      ...FILES,
      'endpoints/odd.endpoint.yaml': 'pipe: total\nsettings:\n  no_such_setting_s: 1\n',
    });
    const child = spawn(
      process.execPath,
      [join(REPO, 'bin', 'tally.js'), 'serve', '--project', dir, '--port', '0'],
      {
        env: {
          ...process.env,
          TALLY_CLICKHOUSE_URL: inject('clickhouseUrl'),
          TALLY_CLICKHOUSE_DATABASE: scratchDatabase('serve'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout?.on('data', (d) => (out += String(d)));
    child.stderr?.on('data', (d) => (out += String(d)));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(1);
    expect(out).toMatch(/endpoints\/odd\.endpoint\.yaml:3/);
    expect(out).toContain('sets `no_such_setting_s`, which ClickHouse');
    expect(out).not.toContain('"msg":"serving"');
  });
});
