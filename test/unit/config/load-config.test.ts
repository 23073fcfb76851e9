import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, readConfig } from '../../../src/config/load-config.ts';
import { parseByteSize } from '../../../src/config/read-ingest-config.ts';
import { type Problem, TallyError } from '../../../src/errors.ts';
import { ingestTuning } from '../../../src/ingest/ingest-tuning.ts';

const TLS = join(import.meta.dirname, '..', '..', 'fixtures', 'tls');

function project(yaml?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tally-config-'));
  if (yaml !== undefined) writeFileSync(join(dir, 'tally.yaml'), yaml);
  return dir;
}

function failure(fn: () => unknown): TallyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TallyError) return e;
    throw e;
  }
  throw new Error('expected a TallyError');
}

describe('loadConfig', () => {
  it('uses the defaults with no tally.yaml: embedded engine, database tally, loopback', () => {
    const dir = project();
    const c = loadConfig(dir, { env: {} });
    expect(c.clickhouse.url).toBeUndefined();
    expect(c.clickhouse.database).toBe('tally');
    expect(c.clickhouse.embeddedPath).toBe(join(dir, '.tally', 'chdb'));
    expect(c.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(c.server).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(c.tokens).toEqual([]);
  });

  it('reads every section and interpolates ${ENV} and ${ENV:-default}', () => {
    const dir = project(
      [
        'name: demo',
        'clickhouse:',
        '  url: http://${CH_HOST}:8123',
        '  user: ${CH_USER:-reader}',
        '  database: analytics',
        'kafka:',
        '  brokers: [a:9092, "b:9092,c:9092"]',
        '  client_id: demo',
        '  session_timeout_ms: 15000',
        '  sasl: { mechanism: scram-sha-256, username: u, password: "${KAFKA_PW}" }',
        'server: { host: 0.0.0.0, port: 8080 }',
        'tokens:',
        '  ci: { token: "${READ_TOKEN}", scope: read, endpoints: [balance] }',
        '  ops: { token: secret, scope: admin }',
      ].join('\n'),
    );
    const c = loadConfig(dir, { env: { CH_HOST: 'ch.local', KAFKA_PW: 'pw', READ_TOKEN: 'r1' } });
    expect(c.clickhouse.url).toBe('http://ch.local:8123');
    expect(c.clickhouse.user).toBe('reader');
    expect(c.clickhouse.database).toBe('analytics');
    expect(c.kafka.brokers).toEqual(['a:9092', 'b:9092', 'c:9092']);
    expect(c.kafka.sasl).toEqual({ mechanism: 'scram-sha-256', username: 'u', password: 'pw' });
    expect(c.kafka.sessionTimeoutMs).toBe(15000);
    expect(c.server).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(c.tokens).toEqual([
      { name: 'ci', value: 'r1', scope: 'read', endpoints: ['balance'] },
      { name: 'ops', value: 'secret', scope: 'admin' },
    ]);
  });

  it('reads kafka.ssl as a mapping of PEM files, relative to the project, with ${ENV} in paths', () => {
    const dir = project(
      'kafka:\n  ssl: { ca_file: certs/ca.pem, cert_file: "${CERT}", key_file: certs/client.key }\n',
    );
    mkdirSync(join(dir, 'certs'));
    copyFileSync(join(TLS, 'ca.pem'), join(dir, 'certs', 'ca.pem'));
    copyFileSync(join(TLS, 'ca.pem'), join(dir, 'certs', 'client.crt'));
    copyFileSync(join(TLS, 'ca.key'), join(dir, 'certs', 'client.key'));
    const c = loadConfig(dir, { env: { CERT: 'certs/client.crt' } });
    expect(c.kafka.ssl).toEqual({
      ca: readFileSync(join(TLS, 'ca.pem'), 'utf8'),
      cert: readFileSync(join(TLS, 'ca.pem'), 'utf8'),
      key: readFileSync(join(TLS, 'ca.key'), 'utf8'),
    });
    expect(loadConfig(project('kafka: { ssl: true }\n'), { env: {} }).kafka.ssl).toBe(true);
  });

  it('refuses TLS files that are missing, not PEM, swapped, encrypted, or a certificate without its key', () => {
    const problemsOf = (yaml: string, files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}) => {
      const dir = project(yaml);
      for (const [name, from] of Object.entries(files)) copyFileSync(join(TLS, from), join(dir, name));
      writeFileSync(join(dir, 'hello.txt'), 'hello');
      const problems: Problem[] = [];
      readConfig(dir, env, problems);
      return problems.map((p) => `${p.location?.file}:${p.location?.line}: ${p.code}: ${p.message}`);
    };
    expect(problemsOf('kafka:\n  ssl: { ca_file: nowhere/ca.pem }\n')).toEqual([
      expect.stringMatching(
        /^tally\.yaml:2: invalid-config: kafka\.ssl\.ca_file: cannot read \/.*nowhere\/ca\.pem \(ENOENT\)$/,
      ),
    ]);
    expect(problemsOf('kafka:\n  ssl: { ca_file: hello.txt }\n')).toEqual([
      expect.stringMatching(
        /^tally\.yaml:2: invalid-config: kafka\.ssl\.ca_file: \/.*hello\.txt is not a PEM file/,
      ),
    ]);
    // A key given as the CA, a certificate given as the key, an encrypted key: each at its line.
    expect(
      problemsOf('kafka:\n  ssl:\n    ca_file: k.pem\n    cert_file: c.pem\n    key_file: c2.pem\n', {
        'k.pem': 'ca.key',
        'c.pem': 'ca.pem',
        'c2.pem': 'ca.pem',
      }),
    ).toEqual([
      expect.stringMatching(
        /^tally\.yaml:3: invalid-config: kafka\.ssl\.ca_file: \/.*k\.pem holds no certificate Node can read/,
      ),
      expect.stringMatching(
        /^tally\.yaml:5: invalid-config: kafka\.ssl\.key_file: \/.*c2\.pem holds no private key Node can read/,
      ),
    ]);
    expect(
      problemsOf(
        'clickhouse:\n  url: https://ch:8443\n  tls:\n    ca_file: ca.pem\n    cert_file: ca.pem\n    key_file: e.key\n',
        { 'ca.pem': 'ca.pem', 'e.key': 'encrypted.key' },
      ),
    ).toEqual([
      expect.stringMatching(
        /^tally\.yaml:6: invalid-config: clickhouse\.tls\.key_file: \/.*e\.key holds an encrypted private key/,
      ),
    ]);
    expect(problemsOf('kafka:\n  ssl:\n    cert_file: c.pem\n', { 'c.pem': 'ca.pem' })).toEqual([
      'tally.yaml:3: missing-key: kafka.ssl.cert_file needs kafka.ssl.key_file too (a client certificate and its key)',
    ]);
    expect(problemsOf('kafka:\n  ssl: { ca: c.pem }\n')).toEqual([
      expect.stringMatching(/^tally\.yaml:2: unknown-key: unknown key `ca` in `kafka.ssl`/),
    ]);
    expect(problemsOf('kafka:\n  ssl: yes please\n')).toEqual([
      expect.stringMatching(/^tally\.yaml:2: expected-boolean: kafka\.ssl must be true or false/),
    ]);
    // clickhouse.tls: a CA is required, and a plain http server (here from the environment) is refused.
    expect(
      problemsOf('clickhouse:\n  url: https://ch:8443\n  tls: { cert_file: c.pem, key_file: k.pem }\n', {
        'c.pem': 'ca.pem',
        'k.pem': 'ca.key',
      }),
    ).toEqual([
      "tally.yaml:3: missing-key: clickhouse.tls needs ca_file (the CA that signed the server's certificate)",
    ]);
    expect(
      problemsOf(
        'clickhouse:\n  url: https://ch:8443\n  tls: { ca_file: ca.pem }\n',
        { 'ca.pem': 'ca.pem' },
        { TALLY_CLICKHOUSE_URL: 'http://ch:8123' },
      ),
    ).toEqual([
      'tally.yaml:3: invalid-config: clickhouse.tls is set but http://ch:8123 is plain http: the connection would not use it',
    ]);
    expect(
      problemsOf('clickhouse:\n  url: https://ch:8443\n  tls: { ca_file: ca.pem }\n', { 'ca.pem': 'ca.pem' }),
    ).toEqual([]);
  });

  it('lets TALLY_* variables override the file', () => {
    const dir = project('clickhouse: { database: fromfile }\nserver: { port: 9000 }\n');
    const c = loadConfig(dir, {
      env: {
        TALLY_CLICKHOUSE_URL: 'http://127.0.0.1:8123',
        TALLY_CLICKHOUSE_DATABASE: 'fromenv',
        TALLY_KAFKA_BROKERS: 'k1:9092, k2:9092',
        TALLY_HOST: '127.0.0.2',
        TALLY_PORT: '7171',
        TALLY_CLICKHOUSE_USER: 'u',
        TALLY_CLICKHOUSE_PASSWORD: 'p',
      },
    });
    expect(c.clickhouse).toMatchObject({
      url: 'http://127.0.0.1:8123',
      database: 'fromenv',
      user: 'u',
      password: 'p',
    });
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(c.server).toEqual({ host: '127.0.0.2', port: 7171 });
  });

  it('names the key, file and line of an unknown key, with a suggestion', () => {
    const dir = project('clickhouse:\n  url: http://x:8123\n  databse: foo\n');
    const e = failure(() => loadConfig(dir, { env: {} }));
    expect(e.format()).toBe(
      'tally.yaml:3:3: unknown key `databse` in `clickhouse` (did you mean `database`?) (allowed keys: url, failover, user, password, database, cluster, tls)',
    );
    expect(e.location).toEqual({ file: 'tally.yaml', line: 3, col: 3 });
  });

  it('reports every problem at once', () => {
    const dir = project(
      [
        'server:',
        '  port: seventy',
        'kafka:',
        '  ssl: maybe',
        'tokens:',
        '  t: { token: x, scope: writer }',
      ].join('\n'),
    );
    const e = failure(() => loadConfig(dir, { env: {} }));
    const lines = e.message.split('\n');
    expect(lines).toEqual([
      'tally.yaml:2:9: server.port must be an integer from 0 to 65535',
      'tally.yaml:4:8: kafka.ssl must be true or false',
      'tally.yaml:6:25: tokens.t.scope must be one of admin, read, append',
    ]);
  });

  it('refuses a token named like a scope: an endpoint could not tell the two apart', () => {
    const dir = project(
      ['tokens:', '  ok: { token: x, scope: read }', '  read: { token: y, scope: append }'].join('\n'),
    );
    const e = failure(() => loadConfig(dir, { env: {} }));
    expect(e.message).toBe(
      "a token cannot be named `read`, the name of a scope (an endpoint's `token: read` means the scope); rename it",
    );
    expect(e.location).toEqual({ file: 'tally.yaml', line: 3, col: 3 });
  });

  it('reads a SASL mechanism in either case (Kafka spells them SCRAM-SHA-256)', () => {
    for (const [written, read] of [
      ['SCRAM-SHA-256', 'scram-sha-256'],
      ['Scram-Sha-512', 'scram-sha-512'],
      ['PLAIN', 'plain'],
    ] as const) {
      const c = loadConfig(project(`kafka:\n  sasl: { mechanism: ${written}, username: u, password: p }\n`), {
        env: {},
      });
      expect(c.kafka.sasl).toEqual({ mechanism: read, username: 'u', password: 'p' });
    }
  });

  it('refuses a session timeout the broker would refuse, naming the key and line', () => {
    for (const bad of ['1000', '3600000', 'soon']) {
      const e = failure(() => loadConfig(project(`kafka:\n  session_timeout_ms: ${bad}\n`), { env: {} }));
      expect(e.format()).toMatch(/tally\.yaml:2:\d+: .*kafka\.session_timeout_ms/);
    }
  });

  it('reads kafka.sasl with oauthbearer: token endpoint, client credentials, scope and extensions', () => {
    const yaml = [
      'kafka:',
      '  sasl:',
      '    mechanism: oauthbearer',
      '    token_url: https://idp.example/oauth2/token',
      '    client_id: tally',
      '    client_secret: ${KAFKA_SECRET}',
      '    scope: kafka',
      '    extensions: { logicalCluster: lkc-123, identityPoolId: pool-9 }',
      '',
    ].join('\n');
    const c = loadConfig(project(yaml), { env: { KAFKA_SECRET: 's3' } });
    expect(c.kafka.sasl).toEqual({
      mechanism: 'oauthbearer',
      tokenUrl: 'https://idp.example/oauth2/token',
      clientId: 'tally',
      clientSecret: 's3',
      scope: 'kafka',
      extensions: { logicalCluster: 'lkc-123', identityPoolId: 'pool-9' },
    });
  });

  it('refuses a kafka.sasl that mixes the two kinds, misses a key, or has a bad URL or extension', () => {
    const cases: Array<[string, RegExp]> = [
      [
        '{ mechanism: oauthbearer, token_url: "http://i/t", client_id: a, client_secret: b, password: p }',
        /kafka\.sasl\.password is not used with mechanism oauthbearer/,
      ],
      [
        '{ mechanism: plain, username: u, password: p, token_url: "http://i/t" }',
        /kafka\.sasl\.token_url is not used with mechanism plain/,
      ],
      ['{ mechanism: oauthbearer, token_url: "http://i/t", client_id: a }', /needs `client_secret`/],
      [
        '{ mechanism: oauthbearer, token_url: "idp/token", client_id: a, client_secret: b }',
        /kafka\.sasl\.token_url must be an http:\/\/ or https:\/\/ URL/,
      ],
      [
        '{ mechanism: oauthbearer, token_url: "http://i/t", client_id: a, client_secret: b, extensions: { auth: x } }',
        /`auth` is not a valid extension name/,
      ],
      [
        '{ mechanism: oauthbearer, token_url: "http://i/t", client_id: a, client_secret: b, extensions: { pool: "é" } }',
        /kafka\.sasl\.extensions\.pool must be printable ASCII/,
      ],
      ['{ mechanism: kerberos, username: u, password: p }', /must be one of plain, .*oauthbearer/],
      [
        '{ mechanism: oauthbearer, token_url: "https://id:pw@i/t", client_id: a, client_secret: b }',
        /kafka\.sasl\.token_url must not carry a user or password/,
      ],
      [
        '{ mechanism: oauthbearer, token_url: "http://i/t", client_id: a, client_secret: "${NO_SECRET:-}" }',
        /kafka\.sasl\.client_secret is empty/,
      ],
    ];
    for (const [sasl, message] of cases) {
      const e = failure(() => loadConfig(project(`kafka:\n  sasl: ${sasl}\n`), { env: {} }));
      expect(e.format()).toMatch(/tally\.yaml:2:\d+: /);
      expect(e.message).toMatch(message);
      expect(e.message).not.toContain('pw@');
    }
    // Each problem at its own line, in block form: the key or value it is about.
    const e = failure(() =>
      loadConfig(
        project(
          'kafka:\n  sasl:\n    mechanism: oauthbearer\n    token_url: "ftp://i/t"\n    client_id: a\n    client_secret: b\n    username: u\n',
        ),
        { env: {} },
      ),
    );
    expect(e.message).toMatch(/tally\.yaml:4:16: kafka\.sasl\.token_url must be an http/);
    expect(e.message).toMatch(
      /tally\.yaml:7:5: kafka\.sasl\.username is not used with mechanism oauthbearer/,
    );
  });

  it('reads the ingest section: counts, sizes with binary units, and the defaults for what is not set', () => {
    expect(loadConfig(project(), { env: {} }).ingest).toEqual({});
    const c = loadConfig(
      project(
        [
          'ingest:',
          '  flush_rows: 5000',
          '  flush_bytes: 1MiB',
          '  fetch_bytes: 4194304',
          '  fetch_partition_bytes: 512KiB',
          '  fetch_min_bytes: 64KiB',
          '  fetch_wait_ms: 200',
          '  buffer_bytes: 1GiB',
          '  max_request_bytes: 2 MiB',
          '  dedup_window_days: 30',
        ].join('\n'),
      ),
      { env: {} },
    );
    expect(c.ingest).toEqual({
      flushRows: 5000,
      flushBytes: 1024 * 1024,
      fetchBytes: 4194304,
      fetchPartitionBytes: 512 * 1024,
      fetchMinBytes: 64 * 1024,
      fetchWaitMs: 200,
      bufferBytes: 1024 ** 3,
      maxRequestBytes: 2 * 1024 * 1024,
      dedupWindowDays: 30,
    });
    expect(ingestTuning(c.ingest)).toEqual({
      batch: { maxRows: 5000, maxBytes: 1024 * 1024, maxBufferedBytes: 1024 ** 3 },
      consumer: { maxBytes: 4194304, maxBytesPerPartition: 512 * 1024, minBytes: 64 * 1024, maxWaitMs: 200 },
      dedupWindowDays: 30,
    });
    expect(ingestTuning({})).toEqual({ batch: {}, consumer: {} });
  });

  it('refuses a bad ingest value, naming the key and line', () => {
    const e = failure(() =>
      loadConfig(
        project(
          [
            'ingest:',
            '  flush_rows: 0',
            '  flush_bytes: 4MB',
            '  fetch_bytes: 1KiB',
            '  fetch_partition_bytes: 2KiB',
            '  buffer_bytes: -1',
            '  fetch_wait_ms: soon',
            '  flush_row: 3',
          ].join('\n'),
        ),
        { env: {} },
      ),
    );
    const lines = e.message.split('\n');
    expect(lines[0]).toMatch(/tally\.yaml:2:\d+: ingest\.flush_rows must be an integer >= 1/);
    expect(lines[1]).toMatch(/tally\.yaml:3:\d+: ingest\.flush_bytes must be a positive size .*got "4MB"/);
    expect(lines[2]).toMatch(
      /tally\.yaml:5:\d+: ingest\.fetch_partition_bytes \(2048\) must be at most ingest\.fetch_bytes \(1024\)/,
    );
    expect(lines[3]).toMatch(/tally\.yaml:6:\d+: ingest\.buffer_bytes must be a positive size/);
    expect(lines[4]).toMatch(/tally\.yaml:7:\d+: ingest\.fetch_wait_ms must be an integer >= 0/);
    expect(lines[5]).toMatch(/tally\.yaml:8:\d+: .*flush_row.*flush_rows/);
    expect(parseByteSize('3GiB')).toBe(3 * 1024 ** 3);
    // Against the default of the key not set.
    const small = failure(() => loadConfig(project('ingest:\n  buffer_bytes: 1MiB\n'), { env: {} }));
    expect(small.format()).toMatch(
      /tally\.yaml:2:\d+: ingest\.flush_bytes \(4194304, its default\) must be at most ingest\.buffer_bytes \(1048576\)/,
    );
    expect(parseByteSize('1.5MiB')).toBeUndefined();
    expect(parseByteSize('99999999999GiB')).toBeUndefined();
    const window = failure(() => loadConfig(project('ingest:\n  dedup_window_days: 0\n'), { env: {} }));
    expect(window.format()).toMatch(/tally\.yaml:2:\d+: ingest\.dedup_window_days must be an integer >= 1/);
  });

  it('names a missing environment variable', () => {
    const dir = project('tokens:\n  ci:\n    token: ${CI_TOKEN}\n    scope: read\n');
    const e = failure(() => loadConfig(dir, { env: {} }));
    expect(e.format()).toBe(
      'tally.yaml:3:12: environment variable CI_TOKEN is not set (set CI_TOKEN, or write ${CI_TOKEN:-default})',
    );
    expect(e.location).toEqual({ file: 'tally.yaml', line: 3, col: 12 });
  });

  it('takes ${ENV} in number, boolean and size keys and in token lists, each then checked as written', () => {
    const yaml = [
      'kafka: { ssl: "${KAFKA_SSL:-false}", session_timeout_ms: "${SESSION_MS:-10000}" }',
      'ingest: { flush_rows: "${FLUSH_ROWS:-100}", fetch_bytes: "${FETCH:-4MiB}", fetch_wait_ms: "${WAIT_MS:-250}" }',
      'tokens:',
      '  ci: { token: t, scope: read, endpoints: ["${ENDPOINT:-balance}", other] }',
      'server: { port: "${PORT:-8080}" }',
      '',
    ].join('\n');
    const dir = project(yaml);
    const c = loadConfig(dir, { env: { KAFKA_SSL: 'true', FLUSH_ROWS: '2500', ENDPOINT: '007' } });
    expect(c.kafka.ssl).toBe(true);
    expect(c.kafka.sessionTimeoutMs).toBe(10_000);
    expect(c.server.port).toBe(8080);
    expect(c.ingest).toMatchObject({ flushRows: 2500, fetchBytes: 4 * 1024 * 1024, fetchWaitMs: 250 });
    // A list of names keeps the text: `007` stays a string.
    expect(c.tokens[0]!.endpoints).toEqual(['007', 'other']);

    // What the variable holds is checked as if written in the file, at the key's line: one
    // problem each, and the literal text would not have given these values above.
    const problemsWith = (env: NodeJS.ProcessEnv) => {
      const problems: Problem[] = [];
      readConfig(dir, env, problems);
      return problems.map((p) => `${p.location?.line}: ${p.message}`);
    };
    expect(problemsWith({ FLUSH_ROWS: '1.5' })).toEqual([
      expect.stringMatching(/^2: ingest\.flush_rows must be an integer/),
    ]);
    expect(problemsWith({ KAFKA_SSL: 'maybe' })).toEqual([
      expect.stringMatching(/^1: kafka\.ssl must be true or false/),
    ]);
    expect(problemsWith({ FETCH: '4 parsecs' })).toEqual([
      expect.stringMatching(/^2: ingest\.fetch_bytes must be a positive size/),
    ]);
    // server.port the same way (it had a reader of its own, which read an unset variable as 0).
    expect(problemsWith({ PORT: '80x' })).toEqual([
      expect.stringMatching(/^5: server\.port must be an integer/),
    ]);
    expect(problemsWith({ PORT: '70000' })).toEqual(['5: server.port must be an integer from 0 to 65535']);
    expect(loadConfig(dir, { env: { PORT: '9090' } }).server.port).toBe(9090);
    // An unset variable without a default: one problem, not also the key's own.
    const unset = project(
      'kafka:\n  ssl: "${SSL}"\ningest:\n  flush_rows: "${ROWS}"\n  fetch_bytes: "${BYTES}"\n',
    );
    const problems: Problem[] = [];
    readConfig(unset, {}, problems);
    expect(problems.map((p) => `${p.location?.line}: ${p.message}`)).toEqual([
      '2: environment variable SSL is not set',
      '4: environment variable ROWS is not set',
      '5: environment variable BYTES is not set',
    ]);
    // Keys are names, not values: `${...}` in a key is not expanded (an unknown key).
    const keyed = failure(() => loadConfig(project('ingest:\n  "${K}": 5\n'), { env: { K: 'flush_rows' } }));
    expect(keyed.format()).toMatch(/unknown key `\$\{K\}` in `ingest`/);
  });

  it('says to quote ${VAR} inside a flow mapping', () => {
    const problems: Problem[] = [];
    readConfig(project('tokens:\n  ci: { token: ${CI_TOKEN}, scope: read }\n'), {}, problems);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      code: 'yaml-syntax',
      location: { line: 2 },
      hint: expect.stringContaining('quoted'),
    });
  });

  it('names a bad environment variable', () => {
    const dir = project();
    expect(failure(() => loadConfig(dir, { env: { TALLY_PORT: 'abc' } })).message).toBe(
      'TALLY_PORT: "abc" is not a port number (0-65535)',
    );
    expect(
      failure(() => loadConfig(dir, { env: { TALLY_CLICKHOUSE_URL: 'localhost:8123' } })).message,
    ).toContain('TALLY_CLICKHOUSE_URL');
    expect(failure(() => loadConfig(dir, { env: { TALLY_CLICKHOUSE_DATABASE: 'a-b' } })).message).toContain(
      'TALLY_CLICKHOUSE_DATABASE',
    );
  });

  it('reports YAML syntax errors with their line', () => {
    const dir = project('clickhouse:\n  url: [unclosed\n');
    const e = failure(() => loadConfig(dir, { env: {} }));
    expect(e.format()).toMatch(/^tally\.yaml:\d+:\d+: YAML: /);
  });

  it('takes clickhouse.cluster from TALLY_CLICKHOUSE_CLUSTER, and refuses a cluster without a server', () => {
    const dir = project('clickhouse: { url: http://127.0.0.1:8124 }\n');
    expect(loadConfig(dir, { env: { TALLY_CLICKHOUSE_CLUSTER: 'tally_cluster' } }).clickhouse.cluster).toBe(
      'tally_cluster',
    );
    const err = failure(() => loadConfig(project('clickhouse: { cluster: main }\n'), { env: {} }));
    expect(err.format()).toContain('clickhouse.cluster (main) needs clickhouse.url');
    // Where tally.yaml sets it.
    expect(err.format()).toMatch(/^tally\.yaml:1:24: /m);
  });

  it('reads clickhouse.failover (or TALLY_CLICKHOUSE_FAILOVER), only with a cluster, only http URLs', () => {
    const yaml =
      'clickhouse:\n  url: http://127.0.0.1:8124\n  failover: [http://127.0.0.1:8125]\n  cluster: c\n';
    expect(loadConfig(project(yaml), { env: {} }).clickhouse.failover).toEqual(['http://127.0.0.1:8125']);
    const env = loadConfig(project('clickhouse: { url: http://a:8123, cluster: c }\n'), {
      env: { TALLY_CLICKHOUSE_FAILOVER: 'http://b:8123, http://c:8123' },
    });
    expect(env.clickhouse.failover).toEqual(['http://b:8123', 'http://c:8123']);
    const alone = failure(() =>
      loadConfig(project('clickhouse:\n  url: http://a:8123\n  failover: [http://b:8123]\n'), { env: {} }),
    );
    expect(alone.format()).toContain('clickhouse.failover needs clickhouse.cluster');
    expect(alone.format()).toMatch(/^tally\.yaml:3:13: /m);
    const notUrl = failure(() =>
      loadConfig(project('clickhouse:\n  url: http://a:8123\n  cluster: c\n  failover: [b:8123]\n'), {
        env: {},
      }),
    );
    expect(notUrl.format()).toContain('tally.yaml:4:');
    expect(notUrl.format()).toContain('clickhouse.failover: "b:8123" is not an http(s) URL');
    expect(
      failure(() =>
        loadConfig(project('clickhouse: { url: http://a:8123, cluster: c }\n'), {
          env: { TALLY_CLICKHOUSE_FAILOVER: 'ftp://b' },
        }),
      ).message,
    ).toContain('TALLY_CLICKHOUSE_FAILOVER: "ftp://b" is not an http(s) URL');
  });

  it('refuses a broker without a port and a server host with one, naming the key', () => {
    const broker = failure(() =>
      loadConfig(project('kafka:\n  brokers: [kafka-1:9092, kafka-2]\n'), { env: {} }),
    );
    expect(broker.format()).toMatch(
      /^tally\.yaml:2:\d+: kafka broker `kafka-2` has no port: write host:port/,
    );
    expect(
      loadConfig(project('kafka:\n  brokers: ["[::1]:9092", b.example:19092]\n'), { env: {} }).kafka.brokers,
    ).toEqual(['[::1]:9092', 'b.example:19092']);
    const fromEnv = failure(() => loadConfig(project(), { env: { TALLY_KAFKA_BROKERS: 'a:9092,b' } }));
    expect(fromEnv.message).toContain('TALLY_KAFKA_BROKERS: `b` has no port');
    const host = failure(() => loadConfig(project('server:\n  host: localhost:7070\n'), { env: {} }));
    expect(host.format()).toMatch(
      /^tally\.yaml:2:\d+: server\.host is an address without a port, not `localhost:7070`/,
    );
    expect(loadConfig(project('server:\n  host: "::1"\n'), { env: {} }).server.host).toBe('::1');
  });

  it('refuses a ClickHouse URL with a user or password in it (shown in messages and /health), never echoing it', () => {
    const inFile = failure(() =>
      loadConfig(project('clickhouse:\n  url: http://me:s3cret@a:8123\n'), { env: {} }),
    );
    expect(inFile.format()).toMatch(/^tally\.yaml:2:\d+: clickhouse\.url must not carry a user or password/);
    expect(inFile.message).toContain('clickhouse.user and clickhouse.password');
    const failover = failure(() =>
      loadConfig(
        project('clickhouse:\n  url: http://a:8123\n  cluster: c\n  failover: [http://x:s3cret@b:8123]\n'),
        {
          env: {},
        },
      ),
    );
    expect(failover.message).toContain('clickhouse.failover must not carry a user or password');
    for (const [name, value] of [
      ['TALLY_CLICKHOUSE_URL', 'http://me:s3cret@a:8123'],
      ['TALLY_CLICKHOUSE_FAILOVER', 'http://b:8123,https://me@c:8443'],
    ]) {
      const e = failure(() =>
        loadConfig(project('clickhouse: { url: http://a:8123, cluster: c }\n'), { env: { [name!]: value } }),
      );
      expect(e.message).toContain(`${name}: must not carry a user or password`);
    }
    for (const e of [inFile, failover]) expect(e.format()).not.toContain('s3cret');
  });
});
