/**
 * Why a TLS handshake failed, from Node's error code or (OpenSSL's) text: the peer's certificate
 * is signed by a CA not trusted here, the peer wants a client certificate (or refused the one
 * given), or the certificate does not fit (names, dates). Undefined when it is not about a
 * certificate. Give it connection errors only: a server's own error text may mention certificates.
 */
export type TlsFailure = 'unknown-ca' | 'client-certificate' | 'names-or-dates';

const UNKNOWN_CA_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);
const FIT_CODES = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

export function tlsFailure(text: string, code?: unknown): TlsFailure | undefined {
  if (typeof code === 'string') {
    if (UNKNOWN_CA_CODES.has(code)) return 'unknown-ca';
    if (FIT_CODES.has(code)) return 'names-or-dates';
    if (/^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED)$/.test(code)) return 'client-certificate';
  }
  if (
    /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer/i.test(text)
  ) {
    return 'unknown-ca';
  }
  if (/alert (bad certificate|certificate required)|alert number (42|116)\b/i.test(text)) {
    return 'client-certificate';
  }
  if (
    /does not match certificate's altnames|certificate has expired|certificate is not yet valid/i.test(text)
  ) {
    return 'names-or-dates';
  }
  return undefined;
}

/** Who refused: `the brokers` / `the brokers'`, `the server` / `the server's`. */
export interface TlsPeer {
  subject: string;
  possessive: string;
}

/** What to change for a TLS failure, naming the settings under `at` (kafka.ssl, clickhouse.tls). */
export function tlsHint(kind: TlsFailure, at: string, peer: TlsPeer, addressSetting: string): string {
  switch (kind) {
    case 'unknown-ca':
      return `${peer.possessive} TLS certificate is signed by a CA this machine does not trust: set ${at}.ca_file in tally.yaml to that CA's certificate (PEM)`;
    case 'client-certificate':
      return `${peer.subject} asked for a client certificate, or refused the one given: set (or check) ${at}.cert_file and ${at}.key_file in tally.yaml`;
    case 'names-or-dates':
      return `${peer.possessive} TLS certificate does not fit (its names or dates): check ${addressSetting} and the certificate`;
  }
}
