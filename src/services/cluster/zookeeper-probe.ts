import { connect } from 'node:net';

/**
 * True when the ZooKeeper at 127.0.0.1:port serves clients. `ruok` answers `imok` as soon as the
 * process runs, before it takes sessions (a ClickHouse started then fails its handshake and
 * exits while loading replicated tables); `stat` says "Mode: standalone" only once it serves.
 */
export function zookeeperAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('stat'));
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('data', (d) => {
      answer += String(d);
    });
    socket.on('end', () => done(/^Mode: /m.test(answer)));
    socket.on('error', () => done(false));
  });
}
