import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TallyError } from '../../src/errors.ts';
import { createTopicsReady } from '../../src/ingest/kafka-client.ts';
import { servicesStatus, servicesUp } from '../../src/services/services.ts';

const REPO = resolve(import.meta.dirname, '..', '..');
const clickhouseUrl = inject('clickhouseUrl');
const kafkaBrokers = inject('kafkaBrokers').split(',');
const opts = { projectDir: REPO, clickhouseUrl, kafkaBrokers };

describe('ClickHouse server', () => {
  it('answers SELECT version() over HTTP with 18.x or later', async () => {
    const res = await fetch(`${clickhouseUrl}/?query=${encodeURIComponent('SELECT version()')}`);
    expect(res.status).toBe(200);
    const version = (await res.text()).trim();
    expect(version).toMatch(/^\d+\.\d+/);
    expect(Number(version.split('.')[0])).toBeGreaterThanOrEqual(18);
  });
});

describe('Kafka broker', () => {
  // A consumer group is at-least-once: a rebalance (a slow heartbeat on a loaded machine) hands a
  // partition back from its last commit, so a message may be read twice. What the broker owes is
  // that each message is stored once, at one offset, and that the group reads all of them.
  it('stores 200 messages over 4 partitions, each at one offset, and a consumer group reads them all', async () => {
    const kafka = new Kafka({
      clientId: 'tally-services-test',
      brokers: kafkaBrokers,
      logLevel: logLevel.NOTHING,
    });
    const topic = `tally-services-test-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const admin = kafka.admin();
    await admin.connect();
    await createTopicsReady(admin, [{ topic, numPartitions: 4 }]);

    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const messages = Array.from({ length: 200 }, (_, i) => ({ key: `key-${i}`, value: `message-${i}` }));
    await producer.send({ topic, messages });
    await producer.disconnect();

    // value -> the distinct partition:offset places it was read from
    const placesOf = new Map<string, Set<string>>();
    const consumer = kafka.consumer({ groupId: `${topic}-group` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let allSeen: () => void = () => {};
    const done = new Promise<void>((r) => {
      allSeen = r;
    });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const value = message.value?.toString() ?? '';
        const places = placesOf.get(value) ?? new Set<string>();
        places.add(`${partition}:${message.offset}`);
        placesOf.set(value, places);
        if (placesOf.size === 200) allSeen();
      },
    });
    const timeout = setTimeout(allSeen, 60_000);
    await done;
    clearTimeout(timeout);
    // A moment more, so a second copy of a message in the log would be read too.
    await new Promise((r) => setTimeout(r, 500));
    await consumer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();

    expect(placesOf.size).toBe(200);
    const storedTwice = [...placesOf].filter(([, places]) => places.size !== 1).map(([value]) => value);
    expect(storedTwice).toEqual([]);
    const partitions = new Set([...placesOf.values()].map((places) => [...places][0]!.split(':')[0]));
    expect([...partitions].sort()).toEqual(['0', '1', '2', '3']);
  });
});

describe('tally services', () => {
  it('status reports both services running, with versions', async () => {
    const all = await servicesStatus(opts);
    // The local cluster's processes follow when they run (cluster.test.ts may have started them).
    const cluster = ['zookeeper', 'clickhouse-1', 'clickhouse-2', 'clickhouse-3', 'clickhouse-4'];
    expect(all.slice(2).every((s) => cluster.includes(s.name))).toBe(true);
    const status = all.slice(0, 2);
    expect(status.map((s) => s.name)).toEqual(['clickhouse', 'kafka']);
    for (const s of status) {
      expect(s.state).toBe('running');
      expect(s.owner).toBeDefined();
      expect(s.version).toBeTruthy();
    }
    expect(status[0]!.version).toMatch(/^\d+\.\d+/);
  });

  it('a second up is a no-op', async () => {
    const results = await servicesUp(opts);
    expect(results.length).toBeGreaterThan(0);
    expect(results.filter((r) => !['already-running', 'reused'].includes(r.action))).toEqual([]);
  });
});

describe('a port held by something else', () => {
  let garbage: Server;
  let port: number;
  let projectDir: string;

  beforeAll(async () => {
    garbage = createServer((socket) => {
      socket.on('error', () => {});
      socket.end('garbage, not a database\r\n\r\n');
    });
    garbage.listen(0, '127.0.0.1');
    await once(garbage, 'listening');
    port = (garbage.address() as { port: number }).port;
    projectDir = mkdtempSync(join(tmpdir(), 'tally-services-'));
  });

  afterAll(() => {
    garbage.close();
    rmSync(projectDir, { recursive: true, force: true });
  });

  it('is not reused as ClickHouse: the error names the port', async () => {
    const err = await servicesUp({
      projectDir,
      clickhouseUrl: `http://127.0.0.1:${port}`,
      only: ['clickhouse'],
      docker: false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TallyError);
    expect((err as TallyError).code).toBe('SERVICE_PORT_TAKEN');
    expect((err as TallyError).message).toContain(String(port));
    expect((err as TallyError).message).toContain('garbage');
  });

  it('is not reused as Kafka: the error names the port', async () => {
    const err = await servicesUp({
      projectDir,
      kafkaBrokers: [`127.0.0.1:${port}`],
      only: ['kafka'],
      docker: false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TallyError);
    expect((err as TallyError).code).toBe('SERVICE_PORT_TAKEN');
    expect((err as TallyError).message).toContain(String(port));
  });
});
