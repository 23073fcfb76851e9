import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { probeKafka } from './kafka-probe.ts';
import { freePort } from './port-probe.ts';

let server: Server | undefined;
afterEach(() => server?.close());

async function listen(onData: (data: Buffer, reply: (b: Buffer) => void) => void): Promise<number> {
  server = createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d: Buffer) => onData(d, (b) => s.write(b)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

describe('probeKafka', () => {
  it('finds nothing on a closed port', async () => {
    expect(await probeKafka('127.0.0.1', await freePort())).toEqual({ kind: 'closed' });
  });

  it('recognises a broker by the correlation id of its ApiVersions answer', async () => {
    const port = await listen((req, reply) => {
      const res = Buffer.alloc(10);
      res.writeInt32BE(6, 0);
      res.writeInt32BE(req.readInt32BE(8), 4); // correlation id: after size, api key, api version
      res.writeInt16BE(0, 8);
      reply(res);
    });
    expect(await probeKafka('127.0.0.1', port)).toEqual({ kind: 'kafka' });
  });

  it('rejects a program that answers something else', async () => {
    const port = await listen((_req, reply) => reply(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
    expect(await probeKafka('127.0.0.1', port)).toEqual({ kind: 'other' });
  });

  it('rejects a program that says nothing', async () => {
    const port = await listen(() => {});
    expect(await probeKafka('127.0.0.1', port, 300)).toEqual({ kind: 'other' });
  });
});
