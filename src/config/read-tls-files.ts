import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Node } from 'yaml';
import type { MapView, YamlReader } from '../yaml/yaml-reader.ts';
import type { TlsFiles } from './config.ts';

type ReadString = (node: Node | null | undefined, what: string) => string | undefined;

/**
 * `kafka.ssl` or `clickhouse.tls` as `{ ca_file, cert_file, key_file }`: the PEM files read now,
 * so a wrong path is an error in `tally check` naming the key and the file, not a TLS failure at
 * the first connection. Paths are relative to the project folder. A certificate needs its key
 * and the reverse; `requireCa` where the client cannot do without a CA file.
 */
export function readTlsFiles(
  r: YamlReader,
  m: MapView | undefined,
  str: ReadString,
  projectDir: string,
  at: 'kafka.ssl' | 'clickhouse.tls',
  requireCa = false,
): TlsFiles | undefined {
  if (!m) return undefined;
  const before = r.problems.length;
  const tls: TlsFiles = {};
  const read = (key: 'ca_file' | 'cert_file' | 'key_file', label: string): string | undefined => {
    if (!m.has(key)) return undefined;
    const node = m.get(key);
    const path = str(node, `${at}.${key}`);
    if (path === undefined) return undefined;
    if (path.trim() === '') {
      // Resolved, '' is the project folder itself: "cannot read <project> (EISDIR)" would puzzle.
      r.error(node, 'invalid-config', `${at}.${key} is empty (is its environment variable set?)`);
      return undefined;
    }
    const file = resolve(projectDir, path);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      r.error(node, 'invalid-config', `${at}.${key}: cannot read ${file} (${why})`);
      return undefined;
    }
    const wrong = pemProblem(key, text);
    if (wrong) {
      r.error(node, 'invalid-config', `${at}.${key}: ${file} ${wrong}`, `expected ${label}`);
      return undefined;
    }
    return text;
  };
  const ca = read('ca_file', 'the certificate(s) of the CA that signed the server\u2019s certificate');
  const cert = read('cert_file', 'this client\u2019s certificate');
  const key = read('key_file', 'the private key of cert_file');
  if (m.has('cert_file') !== m.has('key_file')) {
    const given = m.has('cert_file') ? 'cert_file' : 'key_file';
    const missing = given === 'cert_file' ? 'key_file' : 'cert_file';
    r.error(
      m.keyNode(given),
      'missing-key',
      `${at}.${given} needs ${at}.${missing} too (a client certificate and its key)`,
    );
  }
  if (requireCa && !m.has('ca_file')) {
    r.error(m.node, 'missing-key', `${at} needs ca_file (the CA that signed the server's certificate)`);
  }
  if (r.problems.length !== before) return undefined;
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  return tls;
}

/**
 * Why a file is not what its key asks for (PEM certificates, an unencrypted private key), or
 * undefined. Checked with Node's own parsers, so a swapped or encrypted file is said here and
 * not at the first TLS handshake; the text of the file is never quoted.
 */
function pemProblem(key: 'ca_file' | 'cert_file' | 'key_file', text: string): string | undefined {
  if (!text.includes('-----BEGIN ')) return 'is not a PEM file (no -----BEGIN line)';
  if (key === 'key_file') {
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
      return 'holds an encrypted private key: give it unencrypted (readable only by the user Tally runs as)';
    }
    try {
      createPrivateKey(text);
      return undefined;
    } catch {
      return 'holds no private key Node can read';
    }
  }
  try {
    new X509Certificate(text);
    return undefined;
  } catch {
    return 'holds no certificate Node can read (a CA or client certificate in PEM)';
  }
}
