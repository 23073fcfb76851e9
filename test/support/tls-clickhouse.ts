// A private clickhouse-server (the shared one's binary) that answers HTTPS with a certificate of
// a test CA, and has a user with a password: what a production server behind TLS looks like.
import { join } from 'node:path';
import { PrivateClickHouse } from '../chaos/private-clickhouse.ts';
import { freePort } from './free-port.ts';
import { makeTestCerts, type TestCerts } from './test-certs.ts';

export const CLICKHOUSE_USER = { user: 'tally', password: 'ch-secret-5' };

export interface TlsClickHouse {
  server: PrivateClickHouse;
  certs: TestCerts;
  /** https://127.0.0.1:<port> */
  httpsUrl: string;
}

/**
 * The server; with `requireClientCertificate`, a TLS connection without a client certificate
 * signed by the test CA is refused (Poco's `strict` verification), as mutual-TLS servers do.
 */
export async function startTlsClickHouse(
  dir: string,
  log: (line: string) => void,
  opts: { requireClientCertificate?: boolean; certs?: TestCerts } = {},
): Promise<TlsClickHouse> {
  const certs = opts.certs ?? (await makeTestCerts(join(dir, 'certs')));
  const verify = opts.requireClientCertificate
    ? `<verificationMode>strict</verificationMode>\n            <caConfig>${certs.ca}</caConfig>`
    : '<verificationMode>none</verificationMode>';
  // A free port can be taken by another test between freePort() and the server binding it:
  // then the server exits with "Address already in use", and new ports are tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnFreePorts(dir, log, certs, verify);
    } catch (err) {
      if (attempt >= 3 || !/Address already in use|port \d+ is taken/.test(String((err as Error).message)))
        throw err;
      log(`TLS ClickHouse: a port was taken meanwhile (${attempt}); trying other ports`);
    }
  }
}

async function startOnFreePorts(
  dir: string,
  log: (line: string) => void,
  certs: TestCerts,
  verify: string,
): Promise<TlsClickHouse> {
  const https = await freePort();
  const ports = { http: await freePort(), tcp: await freePort(), interserver: await freePort() };
  const extraConfig = `    <https_port>${https}</https_port>
    <openSSL>
        <server>
            <certificateFile>${certs.serverCert}</certificateFile>
            <privateKeyFile>${certs.serverKey}</privateKeyFile>
            ${verify}
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <disableProtocols>sslv2,sslv3</disableProtocols>
        </server>
    </openSSL>
`;
  const extraUsers = `        <${CLICKHOUSE_USER.user}>
            <password>${CLICKHOUSE_USER.password}</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </${CLICKHOUSE_USER.user}>
`;
  const server = new PrivateClickHouse(join(dir, 'clickhouse'), ports, { extraConfig, extraUsers });
  await server.prepare(log);
  try {
    await server.start();
  } catch (err) {
    await server.stop(5_000).catch(() => {});
    throw err;
  }
  return { server, certs, httpsUrl: `https://127.0.0.1:${https}` };
}
