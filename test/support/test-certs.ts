// A throwaway certificate authority for TLS tests, made with the openssl command: a CA, a
// server certificate for 127.0.0.1 / localhost signed by it, and a client certificate for
// mutual TLS. EC keys (P-256): made in milliseconds, and every Kafka and Node accepts them.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/services/run-command.ts';

export interface TestCerts {
  /** The CA's certificate (PEM file). */
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Key, certificate and CA in one PEM file: a Kafka PEM keystore. */
  serverKeystore: string;
  clientCert: string;
  clientKey: string;
  /** A second CA that signed nothing here: trusting it alone must fail. */
  otherCa: string;
}

export async function makeTestCerts(dir: string): Promise<TestCerts> {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=tally-test-ca',
  ]);
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('other-ca.key'),
    '-out',
    f('other-ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=tally-other-ca',
  ]);
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    await openssl([
      'req',
      ...ec,
      '-keyout',
      f(`${who}.key`),
      '-out',
      f(`${who}.csr`),
      '-subj',
      `/CN=tally-test-${who}`,
    ]);
    await openssl([
      'x509',
      '-req',
      '-in',
      f(`${who}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${who}.crt`),
      '-days',
      '2',
      ...(who === 'server' ? ['-extfile', f('server.ext')] : []),
    ]);
  }
  const keystore = f('server-keystore.pem');
  writeFileSync(
    keystore,
    ['server.key', 'server.crt', 'ca.pem'].map((n) => readFileSync(f(n), 'utf8')).join(''),
  );
  return {
    ca: f('ca.pem'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    serverKeystore: keystore,
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.pem'),
  };
}

/**
 * The files a project points its tally.yaml at, copied into `<projectDir>/certs/`: ca.pem,
 * other-ca.pem (signed nothing here), client.crt and client.key.
 */
export function copyCertsInto(projectDir: string, certs: TestCerts): void {
  const dir = join(projectDir, 'certs');
  mkdirSync(dir, { recursive: true });
  copyFileSync(certs.ca, join(dir, 'ca.pem'));
  copyFileSync(certs.otherCa, join(dir, 'other-ca.pem'));
  copyFileSync(certs.clientCert, join(dir, 'client.crt'));
  copyFileSync(certs.clientKey, join(dir, 'client.key'));
}

async function openssl(args: string[]): Promise<void> {
  const res = await runCommand('openssl', args, { timeoutMs: 30_000 });
  if (res.code !== 0) throw new Error(`openssl ${args.join(' ')}: exit ${res.code}\n${res.stderr}`);
}
