import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../util/loopback-host.ts';
import { describeListener, freePort, isPortOpen, parseHostPort } from './port-probe.ts';

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

describe('port probes', () => {
  it('tells an open port from a closed one', async () => {
    const server = createServer((s) => s.end());
    const port = await listen(server);
    expect(await isPortOpen('127.0.0.1', port)).toBe(true);
    server.close();
    expect(await isPortOpen('127.0.0.1', await freePort())).toBe(false);
  });

  it('describes a program that greets with text', async () => {
    const server = createServer((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n'));
    const port = await listen(server);
    expect(await describeListener('127.0.0.1', port)).toBe('a program that answered "SSH-2.0-OpenSSH_9.2"');
    server.close();
  });

  it('describes an HTTP server by its status and Server header', async () => {
    const server = createHttpServer((_req, res) => {
      res.writeHead(404, { Server: 'nginx' });
      res.end('nope');
    });
    const port = await listen(server);
    expect(await describeListener('127.0.0.1', port)).toBe('an HTTP server (404 Not Found, Server: nginx)');
    server.close();
  });

  it('parses host:port and knows loopback hosts', () => {
    expect(parseHostPort('127.0.0.1:9092', 1)).toEqual({ host: '127.0.0.1', port: 9092 });
    expect(parseHostPort('[::1]:19092', 1)).toEqual({ host: '::1', port: 19092 });
    expect(parseHostPort('kafka', 9092)).toEqual({ host: 'kafka', port: 9092 });
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('127.0.0.2')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('kafka.internal')).toBe(false);
  });
});
