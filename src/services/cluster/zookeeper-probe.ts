import { connect } from 'node:net';

/**
 * True when the ZooKeeper at 127.0.0.1:port serves clients. `ruok` answers `imok` as soon as the
 * process runs, before it takes sessions (a ClickHouse started then fails its handshake and
 * exits while loading replicated tables); `stat` says "Mode: standalone" only once it serves.
 */
export async function zookeeperAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  return /^Mode: /m.test(await zookeeperStat(port, timeoutMs));
}

/** The server's version from `stat` ("3.8.0"), or `unknown`. */
export async function zookeeperVersion(port: number): Promise<string> {
  return /^Zookeeper version: ([\d.]+)/m.exec(await zookeeperStat(port, 1000))?.[1] ?? 'unknown';
}

/** The answer to the four-letter command `stat` ('' when nothing answers). */
function zookeeperStat(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('stat'));
    const done = (text: string) => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(timeoutMs, () => done(''));
    socket.on('data', (d) => {
      answer += String(d);
    });
    socket.on('end', () => done(answer));
    socket.on('error', () => done(''));
  });
}
