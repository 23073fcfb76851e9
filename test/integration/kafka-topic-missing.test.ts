// A Kafka data source whose topic the broker does not have: `tally serve` says so (in /health and
// its log) and still stops promptly on SIGTERM, with no consumer left behind; `tally dev` creates
// the topic and consumes it; two embedded projects reading one topic each store all of it.
// Spawned processes, the real broker, both ClickHouse back ends.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { CliDatabases } from '../support/cli-databases.ts';
import { freePort } from '../support/free-port.ts';
import { deleteTopics, newClient, uniqueTopic } from '../support/ingest-kafka.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');
const databases = new CliDatabases('topic');
const topics: string[] = [];

afterAll(async () => {
  await databases.dropAll();
  await deleteTopics(...topics);
  removeProjects();
});

function project(topic: string): string {
  return writeProject({
    'tally.yaml': 'name: topic-missing\n',
    'datasources/events.datasource.yaml': `source:\n  kafka: { topic: ${topic}, start: earliest }\ncolumns:\n  - { name: id, type: String, json: $.id }\nengine: { sorting_key: [id] }\n`,
    'pipes/count.pipe.yaml': 'nodes:\n  - name: c\n    sql: SELECT count() AS n FROM events\n',
    'endpoints/count.endpoint.yaml': 'pipe: count\n',
  });
}

/** The broker has no topic of that name: nothing created it. */
async function expectNoTopic(topic: string): Promise<void> {
  const client = await newClient();
  try {
    expect(await client.topics()).not.toContain(topic);
  } finally {
    await client.close();
  }
}

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; ms: number }>;
}

function start(args: string[], env: NodeJS.ProcessEnv): Running {
  let out = '';
  const child = spawn(process.execPath, [join(REPO, 'bin', 'tally.js'), ...args], {
    env: { ...process.env, NO_COLOR: '1', TALLY_KAFKA_BROKERS: inject('kafkaBrokers'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (out += String(d)));
  let signalledAt = 0;
  const exited = new Promise<{ code: number | null; ms: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, ms: signalledAt ? performance.now() - signalledAt : -1 })),
  );
  const kill = child.kill.bind(child);
  child.kill = (signal?: NodeJS.Signals | number) => {
    signalledAt = performance.now();
    return kill(signal);
  };
  return { child, output: () => out, exited };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.each(['server', 'embedded'] as const)(
  'a data source whose Kafka topic is missing [%s]',
  (backend) => {
    const env = (extra: NodeJS.ProcessEnv = {}) =>
      databases.env(backend, { ...(backend === 'embedded' ? { TALLY_CLICKHOUSE_URL: '' } : {}), ...extra });

    it('tally serve names the missing topic in /health and stops promptly on SIGTERM', async () => {
      const topic = uniqueTopic('absent');
      const dir = project(topic);
      const port = await freePort();
      const run = start(['serve', '--deploy', '--project', dir, '--port', String(port)], env());
      try {
        const health = await until('the missing topic in /health', async () => {
          const res = await fetch(`http://127.0.0.1:${port}/health`);
          const body = (await res.json()) as {
            kafka?: { datasources: Record<string, { state: string; error?: string }> };
          };
          const d = body.kafka?.datasources.events;
          return d?.error?.includes('does not exist') ? d : undefined;
        });
        expect(health.state).toBe('retrying');
        expect(health.error).toContain(`Kafka topic \`${topic}\` does not exist`);
        // A few retries later (1 s, then 2 s, each +-25%), the consumer that could not start has
        // not been kept.
        await new Promise((r) => setTimeout(r, 4000));
        run.child.kill('SIGTERM');
        const { code, ms } = await run.exited;
        expect(code, run.output()).toBe(0);
        expect(ms).toBeLessThan(10_000);
        expect(run.output()).not.toMatch(/This server does not host this topic-partition/);
        // The same failure is logged once, not at every retry (a reminder comes every 5 min).
        expect(run.output().match(/kafka consumer not started, retrying/g), run.output()).toHaveLength(1);
      } finally {
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
      }
    }, 90_000);

    it('tally dev creates the topic and consumes it, also for a data source added while it runs', async () => {
      const topic = uniqueTopic('devtopic');
      topics.push(topic);
      const dir = project(topic);
      const port = await freePort();
      const run = start(['dev', '--project', dir, '--port', String(port)], env());
      try {
        await until('dev to watch', async () => (run.output().includes('watching') ? true : undefined));
        expect(run.output()).toContain(`created Kafka topic(s) ${topic} (4 partitions each)`);
        expect(run.output()).toMatch(new RegExp(`consuming Kafka at \\S+: ${topic} -> events\\n`));
        const client = await newClient();
        try {
          await client.produce(topic, [
            { key: null, value: '{"id":"a"}' },
            { key: null, value: '{"id":"b"}' },
          ]);
        } finally {
          await client.close();
        }
        const n = await until('both events counted', async () => {
          const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/count.json`);
          const body = (await res.json()) as { data: Array<{ n: number | string }> };
          return Number(body.data[0]?.n) === 2 ? 2 : undefined;
        });
        expect(n).toBe(2);
        // A data source added while dev runs: its topic is created at the reload, and consumed.
        const second = uniqueTopic('devtopic2');
        topics.push(second);
        writeFileSync(
          join(dir, 'pipes/count2.pipe.yaml'),
          'nodes:\n  - name: c\n    sql: SELECT count() AS n FROM more\n',
        );
        writeFileSync(join(dir, 'endpoints/count2.endpoint.yaml'), 'pipe: count2\n');
        writeFileSync(
          join(dir, 'datasources/more.datasource.yaml'),
          `source:\n  kafka: { topic: ${second}, start: earliest }\ncolumns:\n  - { name: id, type: String, json: $.id }\nengine: { sorting_key: [id] }\n`,
        );
        await until('the second topic', async () =>
          run.output().includes(`created Kafka topic(s) ${second}`) ? true : undefined,
        );
        const again = await newClient();
        try {
          await again.produce(second, [{ key: null, value: '{"id":"c"}' }]);
        } finally {
          await again.close();
        }
        await until('the new data source counted', async () => {
          const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/count2.json`);
          const body = (await res.json()) as { data?: Array<{ n: number | string }> };
          return Number(body.data?.[0]?.n) === 1 ? true : undefined;
        });
        // ... and dev said so, as it did for the first at start.
        expect(run.output()).toMatch(new RegExp(`\\n {2}consuming Kafka at \\S+: ${second} -> more\\n`));
        run.child.kill('SIGINT');
        const { ms } = await run.exited;
        expect(ms).toBeLessThan(15_000);
      } finally {
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
      }
    }, 120_000);
  },
);

describe('tally dev --no-kafka', () => {
  it('reads and creates no topic although the broker answers; the events API takes the events', async () => {
    const topic = uniqueTopic('nokafka');
    const dir = project(topic);
    const port = await freePort();
    const run = start(['dev', '--project', dir, '--port', String(port), '--no-kafka'], {});
    try {
      await until('dev to watch', async () => (run.output().includes('watching') ? true : undefined));
      expect(run.output()).toContain('Kafka is not consumed (--no-kafka)');
      expect(run.output()).not.toContain('created Kafka topic');
      expect(run.output()).not.toContain('consuming Kafka');
      const posted = await fetch(`http://127.0.0.1:${port}/v0/events?name=events&wait=true`, {
        method: 'POST',
        body: '{"id":"a"}\n{"id":"b"}\n',
      });
      expect(await posted.json()).toMatchObject({ successful_rows: 2 });
      await expectNoTopic(topic);
    } finally {
      run.child.kill('SIGINT');
      await run.exited;
    }
  }, 60_000);
});

describe('tally serve --no-kafka', () => {
  it('reads and writes no topic although the broker answers; events without wait are stored directly', async () => {
    const topic = uniqueTopic('servenokafka');
    const dir = project(topic);
    const port = await freePort();
    const run = start(['serve', '--deploy', '--project', dir, '--port', String(port), '--no-kafka'], {});
    try {
      await until('serve to listen', async () =>
        (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.ok ? true : undefined,
      );
      expect(run.output()).toContain('"msg":"Kafka is not consumed (--no-kafka)');
      const posted = await fetch(`http://127.0.0.1:${port}/v0/events?name=events`, {
        method: 'POST',
        body: '{"id":"a"}\n{"id":"b"}\n',
      });
      expect(posted.status, await posted.clone().text()).toBe(200);
      const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/count.json`);
      expect(Number(((await res.json()) as { data: Array<{ n: number | string }> }).data[0]!.n)).toBe(2);
      await expectNoTopic(topic);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  }, 60_000);
});

// Two projects on one machine, embedded, with a data source of the same name on the same topic:
// the same database name (`tally`) in two folders. Each must store every event: with one consumer
// group for both, the broker split the partitions between them (each stored about half).
describe('two embedded projects on one broker', () => {
  it('each stores every event of the topic they both read', async () => {
    const topic = uniqueTopic('twoprojects');
    topics.push(topic);
    const dirs = [project(topic), project(topic)];
    const ports = [await freePort(), await freePort()];
    const runs = dirs.map((dir, i) => start(['dev', '--project', dir, '--port', String(ports[i])], {}));
    try {
      for (const run of runs) {
        await until('dev to watch', async () => (run.output().includes('watching') ? true : undefined));
      }
      const client = await newClient();
      try {
        await client.produce(
          topic,
          Array.from({ length: 16 }, (_, i) => ({ key: `k${i}`, value: `{"id":"e${i}"}` })),
        );
      } finally {
        await client.close();
      }
      const count = async (port: number) => {
        const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/count.json`);
        return Number(((await res.json()) as { data: Array<{ n: number | string }> }).data[0]?.n);
      };
      for (const port of ports) {
        await until(
          `16 events on :${port}`,
          async () => ((await count(port)) === 16 ? true : undefined),
          30_000,
        );
      }
      // ... and no more arrive later (nothing counted twice once both settled).
      await new Promise((r) => setTimeout(r, 1500));
      expect(await Promise.all(ports.map(count))).toEqual([16, 16]);
    } finally {
      for (const run of runs) run.child.kill('SIGINT');
      await Promise.all(runs.map((r) => r.exited));
    }
  }, 120_000);
});
