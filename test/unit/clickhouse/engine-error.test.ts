import { describe, expect, it } from 'vitest';
import { EngineError, toEngineError } from '../../../src/clickhouse/engine-error.ts';

describe('toEngineError', () => {
  it('names the tally.yaml setting for a TLS failure, by its kind', () => {
    const cases: Array<[string, RegExp]> = [
      ['unable to verify the first certificate', /set clickhouse\.tls\.ca_file/],
      ['self-signed certificate in certificate chain', /set clickhouse\.tls\.ca_file/],
      [
        'SSL alert number 116: alert certificate required',
        /set \(or check\) clickhouse\.tls\.cert_file and clickhouse\.tls\.key_file/,
      ],
      [
        "Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list",
        /check clickhouse\.url/,
      ],
    ];
    for (const [message, hint] of cases) {
      const e = toEngineError(new Error(message), 'SELECT version()', 'https://ch:8443');
      expect(e.code).toBe('clickhouse-tls');
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe(`cannot connect to ClickHouse at https://ch:8443 over TLS: ${message}`);
      expect(e.hint).toMatch(hint);
    }
  });

  it("reads the kind from Node's error code too, and never takes an answered error for TLS", () => {
    const byCode = Object.assign(new Error('handshake failed'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    expect(toEngineError(byCode, 'SELECT 1', 'https://ch:8443').code).toBe('clickhouse-tls');
    const alert = Object.assign(new Error('alert'), { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    expect(toEngineError(alert, 'SELECT 1', 'https://ch:8443').hint).toMatch(
      /cert_file and clickhouse\.tls\.key_file/,
    );
    // ClickHouse's own answer quoting a certificate failure of url(): the statement's error.
    const answered = Object.assign(
      new Error('Code: 1000. DB::Exception: SSL Exception: self-signed certificate in certificate chain'),
      { code: '1000', type: 'POCO_EXCEPTION' },
    );
    const e = toEngineError(answered, "SELECT * FROM url('https://x/', CSV, 'a String')", 'https://ch:8443');
    expect(e).toBeInstanceOf(EngineError);
    expect(e.code).toBe('clickhouse-error');
  });

  it('keeps unreachable and refused statements apart from TLS', () => {
    expect(toEngineError(new Error('connect ECONNREFUSED 127.0.0.1:8123'), 'SELECT 1', 'http://x').code).toBe(
      'clickhouse-unreachable',
    );
    const refused = toEngineError(
      new Error('Table default.nope does not exist'),
      'SELECT * FROM nope',
      'http://x',
    );
    expect(refused).toBeInstanceOf(EngineError);
    expect(refused.code).toBe('clickhouse-error');
  });
});
