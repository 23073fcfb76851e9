import { Socket } from 'node:net';

/** True when the first broker accepts a TCP connection within `timeoutMs` (a cheap probe). */
export async function kafkaReachable(brokers: readonly string[], timeoutMs = 1000): Promise<boolean> {
  const first = brokers[0];
  if (!first) return false;
  const i = first.lastIndexOf(':');
  const host = i > 0 ? first.slice(0, i) : first;
  const port = i > 0 ? Number(first.slice(i + 1)) : 9092;
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, host.replace(/^\[|\]$/g, ''));
  });
}
