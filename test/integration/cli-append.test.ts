import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEngine } from '../../src/clickhouse/create-engine.ts';
import { startIngestion } from '../../src/ingest/ingestion.ts';
import { createKafkaClient } from '../../src/ingest/kafka-client.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { runCli } from '../support/capture-output.ts';
import { CliDatabases } from '../support/cli-databases.ts';
import { freePort } from '../support/free-port.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');

function project(extra: Record<string, string> = {}): string {
  return writeProject({
    'tally.yaml': 'name: append-test\n',
    'datasources/payments.datasource.yaml': [
      'columns:',
      '  - { name: payment_id, type: String,           json: $.payment_id }',
      '  - { name: timestamp,  type: DateTime,         json: $.timestamp }',
      '  - { name: account_id, type: String,           json: $.account_id }',
      '  - { name: type,       type: String,           json: $.type }',
      '  - { name: amount,     type: "Decimal(18, 2)", json: $.amount }',
      '  - { name: note,       type: Nullable(String), json: $.note }',
      'engine: { type: ReplacingMergeTree, sorting_key: [account_id, timestamp, payment_id] }',
      'dedup_key: payment_id',
    ].join('\n'),
    'pipes/balance.pipe.yaml': [
      'params:',
      '  account_id: { type: String, required: true }',
      'nodes:',
      '  - name: movements',
      '    sql: SELECT amount FROM payments FINAL WHERE account_id = {{ account_id }}',
      '  - name: balance',
      '    sql: SELECT sum(amount) AS balance, count() AS movements FROM movements',
    ].join('\n'),
    'endpoints/balance.endpoint.yaml': 'pipe: balance\n',
    ...extra,
  });
}

const PAYMENT =
  '{"payment_id":"p1","timestamp":"2024-03-13 09:17:28","account_id":"a1","type":"payment","amount":-879.00,"note":"flight"}';
const REFUND =
  '{"payment_id":"p2","timestamp":"2024-03-14 10:00:00","account_id":"a1","type":"refund","amount":879.00,"note":"reverses p1"}';
const DEPOSIT =
  '{"payment_id":"p0","timestamp":"2024-03-11 12:30:45","account_id":"a1","type":"deposit","amount":5000}';
const BAD = '{"payment_id":"p9","timestamp":"soon","account_id":"a1","type":"payment","amount":1}';

const run = (argv: string[], env: NodeJS.ProcessEnv) => runCli(argv, env, REPO);

const databases = new CliDatabases('append');

function envFor(backend: BackendName): NodeJS.ProcessEnv {
  return databases.env(backend, { TALLY_KAFKA_BROKERS: inject('kafkaBrokers') });
}

async function balance(dir: string, env: NodeJS.ProcessEnv): Promise<{ balance: number; movements: number }> {
  const r = await run(
    ['sql', 'SELECT * FROM balance', '--param', 'account_id=a1', '--json', '--project', dir],
    env,
  );
  expect(r.code, r.err).toBe(0);
  const row = (JSON.parse(r.out) as { data: Array<{ balance: number; movements: number | string }> })
    .data[0]!;
  return { balance: Number(row.balance), movements: Number(row.movements) };
}

afterAll(async () => {
  removeProjects();
  await databases.dropAll();
});

describe.each(BACKENDS)('tally append [%s]', (backend) => {
  it('checks rows, stores the good ones through ingestion, reports bad lines and duplicates', async () => {
    const dir = project({
      'rows.ndjson': [DEPOSIT, PAYMENT, BAD, ''].join('\n'),
      'refund.csv': [
        'payment_id,timestamp,account_id,type,amount,note',
        'p2,2024-03-14 10:00:00,a1,refund,879.00,"reverses p1, the cancelled flight"',
        'p3,2024-03-15 08:00:00,a1,fee,-2.5,',
      ].join('\n'),
    });
    const env = envFor(backend);
    expect((await run(['deploy', '--project', dir], env)).code).toBe(0);

    const first = await run(
      ['append', 'payments', '--file', join(dir, 'rows.ndjson'), '--project', dir],
      env,
    );
    expect(first.code).toBe(1);
    expect(first.err).toMatch(
      new RegExp(`^${join(dir, 'rows.ndjson')}:3: timestamp: expected a date and time`),
    );
    expect(first.out).toMatch(
      /^✗ 3 rows to payments on .*: 2 sent, 1 refused, 0 duplicates dropped \(\d+ ms\)$/,
    );

    const again = await run(
      ['append', 'payments', '--file', join(dir, 'rows.ndjson'), '--project', dir, '--json'],
      env,
    );
    expect(again.code).toBe(1);
    expect(JSON.parse(again.out)).toMatchObject({
      via: 'clickhouse',
      rows: 3,
      sent: 0,
      refused: 1,
      duplicates: 2,
    });

    const csv = await run(['append', 'payments', '--file', join(dir, 'refund.csv'), '--project', dir], env);
    expect(csv.err).toBe('');
    expect(csv.code).toBe(0);
    expect(csv.out).toMatch(/^✓ 2 rows to payments on .*: 2 sent, 0 refused, 0 duplicates dropped/);

    // The refund compensates the payment: 5000 - 879 + 879 - 2.5.
    expect(await balance(dir, env)).toEqual({ balance: 4997.5, movements: 4 });
    const notes = await run(
      [
        'sql',
        "SELECT note FROM payments WHERE payment_id IN ('p2', 'p3') ORDER BY payment_id",
        '-f',
        'csv',
        '--project',
        dir,
      ],
      env,
    );
    expect(notes.out).toBe('"note"\n"reverses p1, the cancelled flight"\n\\N');
  });

  it('produces to the Kafka topic when the data source has one; the consumer stores the rows', async () => {
    const topic = `tally_append_${process.pid}_${backend}_${Math.random().toString(36).slice(2, 6)}`;
    const dir = project({
      'datasources/payments.datasource.yaml': [
        `source: { kafka: { topic: ${topic} } }`,
        'columns:',
        '  - { name: payment_id, type: String,           json: $.payment_id }',
        '  - { name: timestamp,  type: DateTime,         json: $.timestamp }',
        '  - { name: account_id, type: String,           json: $.account_id }',
        '  - { name: type,       type: String,           json: $.type }',
        '  - { name: amount,     type: "Decimal(18, 2)", json: $.amount }',
        '  - { name: note,       type: Nullable(String), json: $.note }',
        'engine: { type: ReplacingMergeTree, sorting_key: [account_id, timestamp, payment_id] }',
        'dedup_key: payment_id',
      ].join('\n'),
      'rows.ndjson': [DEPOSIT, PAYMENT, REFUND, PAYMENT].join('\n'),
    });
    const env = envFor(backend);
    expect((await run(['deploy', '--project', dir], env)).code).toBe(0);

    // No topic yet: written through ClickHouse, and said so.
    const early = await run(
      ['append', 'payments', '--file', join(dir, 'rows.ndjson'), '--project', dir],
      env,
    );
    expect(early.code).toBe(0);
    expect(early.out).toContain(
      `Kafka topic ${topic} does not exist on ${inject('kafkaBrokers')}; written through ClickHouse`,
    );
    expect(early.out).toMatch(/3 sent, 0 refused, 1 duplicate dropped/);

    const kafka = createKafkaClient({
      brokers: [inject('kafkaBrokers')],
      clientId: 'tally-test',
      ssl: false,
    });
    await kafka.ensureTopic(topic, 2);
    await kafka.close();
    const deposit2 = DEPOSIT.replace('"p0"', '"p4"').replace('5000', '100');
    const dir2 = join(dir, 'more.ndjson');
    writeFileSync(dir2, `${deposit2}\n${PAYMENT}\n`);
    const sent = await run(['append', 'payments', '--file', dir2, '--project', dir, '--json'], env);
    expect(sent.code, sent.err).toBe(0);
    expect(JSON.parse(sent.out)).toMatchObject({ via: 'kafka', sent: 2, refused: 0, duplicates: null });

    // A consumer (what `tally dev` / `tally serve` run) stores p4 and drops the copy of p1.
    const p = loadProjectOrThrow(dir, { env });
    const engine = await createEngine(p.config.clickhouse);
    const ingestion = await startIngestion(p, engine, p.config.kafka, { consume: true });
    try {
      const deadline = Date.now() + 60_000;
      let n = 0;
      while (Date.now() < deadline) {
        n = Number((await engine.rows<{ n: string }>('SELECT count() AS n FROM payments'))[0]!.n);
        if (n >= 4) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(n).toBe(4);
    } finally {
      await ingestion.stop();
      await engine.close();
    }
    expect(await balance(dir, env)).toEqual({ balance: 5100, movements: 4 });

    // --no-kafka: the topic exists and the broker answers, yet the rows go straight to ClickHouse
    // (no consumer runs now: only a direct write changes the balance).
    const dir3 = join(dir, 'straight.ndjson');
    writeFileSync(dir3, `${DEPOSIT.replace('"p0"', '"p5"').replace('5000', '1')}\n${PAYMENT}\n`);
    const straight = await run(
      ['append', 'payments', '--file', dir3, '--project', dir, '--json', '--no-kafka'],
      env,
    );
    expect(straight.code, straight.err).toBe(0);
    expect(JSON.parse(straight.out)).toMatchObject({ via: 'clickhouse', sent: 1, duplicates: 1 });
    expect(await balance(dir, env)).toEqual({ balance: 5101, movements: 5 });
  });
});

describe('tally append while `tally dev` holds the embedded engine', () => {
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
  });

  it("sends the rows through the running server's events API", async () => {
    const dir = project({ 'rows.ndjson': [DEPOSIT, PAYMENT, REFUND].join('\n') });
    const port = await freePort();
    let output = '';
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
    const deadline = Date.now() + 60_000;
    while (!output.includes('watching') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(output).toContain('watching');

    // Not the configured port: dev says where it listens, beside the folder it holds.
    expect(JSON.parse(readFileSync(join(dir, '.tally', 'chdb.server.json'), 'utf8'))).toMatchObject({
      url: `http://127.0.0.1:${port}`,
    });
    const r = await run(
      ['append', 'payments', '--file', join(dir, 'rows.ndjson'), '--project', dir, '--json'],
      {},
    );
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ via: 'events-api', sent: 3, duplicates: 0 });
    // tally sql reads through the running dev (it holds the folder).
    const sql = await run(
      ['sql', 'SELECT count() AS n FROM payments', '--format', 'json', '--project', dir],
      {},
    );
    expect(sql.code, sql.err).toBe(0);
    expect(JSON.parse(sql.out).data).toEqual([{ n: 3 }]);
    // A command that needs the folder itself says who holds it, not "reinstall chDB".
    const plan = await run(['deploy', '--check', '--project', dir], {});
    expect(plan.code).toBe(2);
    expect(plan.err).toMatch(
      /folder .* is in use by another process \(pid \d+\): a running `tally dev` or `tally serve`/,
    );
    expect(plan.err).not.toMatch(/Reinstall/);
    // Refused before chDB tries the folder: ClickHouse's own lock error never reaches stderr.
    const spawned = spawnSync(
      process.execPath,
      [join(REPO, 'bin', 'tally.js'), 'deploy', '--check', '--project', dir],
      {
        env: { ...process.env, NO_COLOR: '1', TALLY_CLICKHOUSE_URL: '' },
        encoding: 'utf8',
      },
    );
    expect(spawned.status).toBe(2);
    expect(spawned.stderr).toMatch(/is in use by another process/);
    expect(spawned.stderr).not.toMatch(/Cannot lock file/);
    const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/balance.json?account_id=a1`);
    expect(((await res.json()) as { data: Array<{ balance: number }> }).data[0]?.balance).toBe(5000);
  });

  it('says that a data source with a Kafka topic is stored directly through the server, not written to the topic', async () => {
    const topic = `append_dev_${process.pid}_${Date.now()}`;
    const dir = project({
      'datasources/orders.datasource.yaml': [
        `source: { kafka: { topic: ${topic} } }`,
        'columns:',
        '  - { name: order_id, type: String, json: $.order_id }',
        'engine: { sorting_key: [order_id] }',
        'dedup_key: order_id',
      ].join('\n'),
      'orders.ndjson': '{"order_id":"o1"}\n',
      'rows.ndjson': DEPOSIT,
    });
    const port = await freePort();
    // --no-kafka: dev reads no topic, so nothing but the append could store the row.
    const dev = spawn(
      process.execPath,
      [join(REPO, 'bin', 'tally.js'), 'dev', '--project', dir, '--port', String(port), '--no-kafka'],
      { env: { ...process.env, NO_COLOR: '1', TALLY_CLICKHOUSE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let output = '';
      dev.stdout?.on('data', (d) => (output += String(d)));
      dev.stderr?.on('data', (d) => (output += String(d)));
      const deadline = Date.now() + 60_000;
      while (!output.includes('watching') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(output).toContain('watching');
      const url = `http://127.0.0.1:${port}`;

      const orders = await run(
        ['append', 'orders', '--file', join(dir, 'orders.ndjson'), '--project', dir],
        {},
      );
      expect(orders.code, orders.err).toBe(0);
      const [line, hint] = orders.out.split('\n');
      expect(line).toMatch(
        new RegExp(
          `^✓ 1 row to orders through the Tally server at ${url}, stored directly \\(not written to Kafka topic ${topic}\\): 1 sent, 0 refused, 0 duplicates dropped \\(\\d+ ms\\)$`,
        ),
      );
      expect(hint).toBe(
        `to write events to topic ${topic} instead: run \`tally append\` while no Tally server holds the embedded engine, or POST them to ${url}/v0/events?name=orders without wait=true (a server that reads the topic produces them to it)`,
      );
      const json = await run(
        ['append', 'orders', '--file', join(dir, 'orders.ndjson'), '--project', dir, '--json'],
        {},
      );
      expect(JSON.parse(json.out)).toMatchObject({
        via: 'events-api',
        target: `orders through the Tally server at ${url}, stored directly (not written to Kafka topic ${topic})`,
        note: expect.stringContaining(`to write events to topic ${topic} instead`),
        duplicates: 1,
      });
      // Asked for (--no-kafka), or a data source without a topic: nothing to say.
      const asked = await run(
        ['append', 'orders', '--file', join(dir, 'orders.ndjson'), '--project', dir, '--no-kafka'],
        {},
      );
      expect(asked.code, asked.err).toBe(0);
      expect(asked.out).toMatch(
        new RegExp(
          `^✓ 1 row to orders through the Tally server at ${url}: 0 sent, 0 refused, 1 duplicate dropped`,
        ),
      );
      expect(asked.out).not.toContain('topic');
      const plain = await run(
        ['append', 'payments', '--file', join(dir, 'rows.ndjson'), '--project', dir],
        {},
      );
      expect(plain.code, plain.err).toBe(0);
      expect(plain.out).not.toContain('topic');
    } finally {
      dev.kill('SIGTERM');
      await new Promise((r) => (dev.exitCode === null ? dev.once('exit', r) : r(null)));
    }
  });

  it('with the folder held by a process that serves nothing, says which addresses it tried', async () => {
    const dir = project({ 'rows.ndjson': DEPOSIT });
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require('chdb/connection').createChdbConnection({ path: ${JSON.stringify(join(dir, '.tally', 'chdb'))} }); console.log('open'); setInterval(() => {}, 1000);`,
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout?.on('data', (d) => String(d).includes('open') && resolve());
        holder.once('exit', (code) => reject(new Error(`the holder exited with ${code}`)));
      });
      const r = await run(['append', 'payments', '--file', join(dir, 'rows.ndjson'), '--project', dir], {
        TALLY_PORT: String(await freePort()),
      });
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/is in use by another process/);
      expect(r.err).toMatch(/no Tally server answered at http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
