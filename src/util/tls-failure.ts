/**
 * Why a TLS handshake failed, read from Node's (OpenSSL's) error text: the peer's certificate
 * is signed by a CA not trusted here, the peer wants a client certificate, or the certificate
 * does not fit (names, dates). Undefined when the text is not about a certificate.
 */
export type TlsFailure = 'unknown-ca' | 'client-certificate' | 'names-or-dates';

export function tlsFailure(text: string): TlsFailure | undefined {
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
