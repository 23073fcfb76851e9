import { connect } from 'node:net';

/** True when a ZooKeeper answers `ruok` with `imok` at 127.0.0.1:port. */
export function zookeeperAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('ruok'));
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('data', (d) => {
      answer += String(d);
    });
    socket.on('end', () => done(answer.trim() === 'imok'));
    socket.on('error', () => done(false));
  });
}
