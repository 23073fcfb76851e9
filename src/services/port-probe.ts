import { connect, createServer } from 'node:net';

/** True when something accepts TCP connections at host:port. */
export function isPortOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A short description of whatever listens at host:port, for "port taken" errors: the first bytes
 * it sends on its own, or its answer to an HTTP request.
 */
export function describeListener(host: string, port: number, timeoutMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let data = Buffer.alloc(0);
    let asked = false;
    const finish = () => {
      socket.destroy();
      resolve(describeBytes(data));
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.once('connect', () => {
      // Give a server that greets first (SSH, SMTP, MySQL) a moment before asking it HTTP.
      setTimeout(() => {
        if (data.length === 0 && !socket.destroyed) {
          asked = true;
          socket.write(`GET / HTTP/1.0\r\nHost: ${host}:${port}\r\n\r\n`);
        }
      }, 200);
    });
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      if (data.length >= 512 || (!asked && data.length > 0)) {
        clearTimeout(timer);
        finish();
      }
    });
    socket.once('error', () => {
      clearTimeout(timer);
      finish();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      finish();
    });
  });
}

function describeBytes(data: Buffer): string {
  if (data.length === 0) return 'a program that accepts connections but sends nothing back';
  const text = data.toString('latin1');
  const status = /^HTTP\/\d(?:\.\d)? (\d{3}[^\r\n]*)/.exec(text);
  if (status) {
    const server = /\r\nServer: ([^\r\n]+)/i.exec(text)?.[1];
    return `an HTTP server (${status[1]}${server ? `, Server: ${server}` : ''})`;
  }
  const printable = text
    .slice(0, 60)
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim();
  return printable ? `a program that answered "${printable}"` : 'a program speaking a binary protocol';
}

/** host and port of `host:port` (IPv6 as `[::1]:9092`). */
export function parseHostPort(address: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  if (!m) return { host: address, port: defaultPort };
  return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
}
