// Slow clients: sockets that send a request one byte a second and never finish it.
import { connect, type Socket } from 'node:net';

export interface SlowClients {
  count: number;
  /** Waits until every socket is closed (by the server), up to `timeoutMs`. */
  waitClosed(timeoutMs: number): Promise<{ byServer: number; lastMs: number }>;
  destroy(): void;
}

export function openSlowClients(port: number, count: number): SlowClients {
  const t0 = performance.now();
  const request = `GET /v0/pipes/totals.json HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X-Slow: y\r\n'.repeat(200)}\r\n`;
  const sockets: Socket[] = [];
  const closedAt: number[] = [];
  const timers: NodeJS.Timeout[] = [];
  let destroyedByUs = false;
  for (let i = 0; i < count; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => {
      if (!destroyedByUs) closedAt.push(performance.now() - t0);
    });
    let at = 0;
    timers.push(
      setInterval(() => {
        if (!s.destroyed && at < request.length) s.write(request[at++] as string);
      }, 1000),
    );
    sockets.push(s);
  }
  return {
    count,
    async waitClosed(timeoutMs) {
      const start = performance.now();
      while (closedAt.length < count && performance.now() - start < timeoutMs) {
        await new Promise((r) => setTimeout(r, 250));
      }
      return { byServer: closedAt.length, lastMs: Math.max(0, ...closedAt) };
    },
    destroy() {
      destroyedByUs = true;
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
    },
  };
}
