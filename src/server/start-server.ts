import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import { TallyError } from '../errors.ts';
import type { DirectHandler } from './direct-route.ts';

export interface RunningServer {
  url: string;
  port: number;
  /** Stops accepting, lets requests in flight finish (up to `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Fails as startServer would when host:port cannot be listened on (taken, or not this machine's),
 * before anything else is done: `tally dev` checks it before it deploys and loads fixtures.
 */
export function assertCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, host, port)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code !== 'EADDRINUSE') return err;
  return new TallyError('port-in-use', `port ${port} on ${host} is already in use`, {
    exitCode: 2,
    hint: 'stop the other process, or pick another port: --port N (0 for any free one), server.port or TALLY_PORT',
  });
}

/**
 * Serves a hono app on host:port (loopback by default); port 0 picks a free port. An app with a
 * `direct` handler (createApp's) answers the requests it takes before hono sees them.
 */
export async function startServer(
  app: Hono & { direct?: DirectHandler },
  host: string,
  port: number,
): Promise<RunningServer> {
  const viaHono = getRequestListener(app.fetch, { hostname: host });
  const direct = app.direct;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    let taken = false;
    try {
      taken = direct?.(req, res) ?? false;
    } catch {
      // Nothing was written: hono answers it, with its own error handling.
    }
    if (!taken) void viaHono(req, res);
  };
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createServer(listener);
    s.listen(port, host, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, host, port)));
  });
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 60_000;
  const addr = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${addr.port}`,
    port: addr.port,
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
