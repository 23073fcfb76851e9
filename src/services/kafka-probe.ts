import { connect } from 'node:net';

/** What answers at a Kafka broker address. */
export type KafkaProbe = { kind: 'closed' } | { kind: 'kafka' } | { kind: 'other' };

/**
 * Sends a Kafka ApiVersions request (v0) over a raw socket: a broker answers with our correlation
 * id, anything else does not. Cheaper and more telling than a client's retries.
 */
export function probeKafka(host: string, port: number, timeoutMs = 2000): Promise<KafkaProbe> {
  const correlationId = 0x7a11e000 + Math.floor(Math.random() * 0xfff);
  const clientId = Buffer.from('tally-probe');
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
  body.writeInt16BE(18, 0); // ApiVersions
  body.writeInt16BE(0, 2);
  body.writeInt32BE(correlationId, 4);
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);

  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let data = Buffer.alloc(0);
    let connected = false;
    let settled = false;
    const finish = (result: KafkaProbe) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => finish(connected ? { kind: 'other' } : { kind: 'closed' }));
    socket.once('connect', () => {
      connected = true;
      socket.write(Buffer.concat([size, body]));
    });
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      if (data.length >= 8) {
        const len = data.readInt32BE(0);
        const ok = len > 4 && len < 1 << 20 && data.readInt32BE(4) === correlationId;
        finish(ok ? { kind: 'kafka' } : { kind: 'other' });
      }
    });
    socket.once('error', () => finish(connected ? { kind: 'other' } : { kind: 'closed' }));
    socket.once('close', () => finish(connected ? { kind: 'other' } : { kind: 'closed' }));
  });
}

/** The cluster's metadata through kafkajs: the broker is ready for clients when this answers. */
export async function describeKafkaCluster(
  brokers: string[],
  timeoutMs = 3000,
): Promise<{ clusterId: string; brokers: number }> {
  // Loaded here, not at the top: most commands never talk to Kafka, and kafkajs takes ~150 ms
  // to import.
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({
    clientId: 'tally-services',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 1000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return { clusterId: cluster.clusterId, brokers: cluster.brokers.length };
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
