// Probe for finding 1 of docs/reliability.md on the Kafka path: one message whose Int64 value is
// an object, between good messages of the same partition. Prints how many good events were
// stored and whether the partition moved past the poison message.
// Run: npx tsx test/chaos/poison-probe.ts
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import { createKafkaClient } from '../../src/ingest/kafka-client.ts';
import { writeChaosProject } from './chaos-project.ts';
import { sleep, TallyProcess } from './tally-process.ts';

const url = process.env.TALLY_CLICKHOUSE_URL || 'http://127.0.0.1:8123';
const brokers = process.env.TALLY_KAFKA_BROKERS || '127.0.0.1:9092';
const stamp = `${Date.now().toString(36)}${process.pid}`;
const database = `poison_${stamp}`;
const topic = `poison_${stamp}`;
const work = mkdtempSync(join(tmpdir(), 'tally-poison-'));
const engine = await createEngine({
  url,
  user: 'default',
  password: '',
  database,
  embeddedPath: join(work, 'x'),
});
const kafka = createKafkaClient({ brokers: [brokers], clientId: 'tally-poison', ssl: false });
await kafka.ensureTopic(topic, 1);
const project = writeChaosProject({ clickhouseUrl: url, database, topic, brokers });
const tally = new TallyProcess(project, 19_500 + Math.floor(Math.random() * 400), join(work, 'tally.log'));
const ev = (id: string, amount: string) =>
  `{"id":"${id}","account":"a","amount":${amount},"ts":"2024-06-01 12:00:00"}`;
try {
  tally.start();
  await tally.waitHealthy();
  const msgs = [
    ...Array.from({ length: 10 }, (_, i) => ev(`before-${i}`, '1')),
    ev('poison', '{"v":1}'),
    ...Array.from({ length: 10 }, (_, i) => ev(`after-${i}`, '1')),
  ].map((value) => ({ key: null, value }));
  await kafka.produce(topic, msgs);
  await sleep(15_000);
  const rows = await engine.rows<{ n: string }>('SELECT toString(count()) AS n FROM ledger');
  const q = await engine.rows<{ n: string }>('SELECT toString(count()) AS n FROM ledger_quarantine');
  console.log(`stored ${rows[0]?.n} of 20 good events, quarantined ${q[0]?.n} (1 expected)`);
  const log = readFileSync(join(work, 'tally.log'), 'utf8');
  const lines = log
    .split('\n')
    .filter((l) => /exact JSON reader|error/i.test(l) && !/"msg":"request"/.test(l));
  console.log(`${lines.length} error lines in the Tally log; first: ${lines[0]?.slice(0, 400)}`);
} finally {
  await tally.stop();
  await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
  await engine.close();
  await kafka.close();
  rmSync(project, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
