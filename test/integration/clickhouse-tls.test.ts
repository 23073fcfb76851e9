// Tally against a ClickHouse server behind TLS with a certificate of a private CA and a user with
// a password, as a production server is reached: `tally deploy`, `tally append` and `tally
// serve` over https with clickhouse.tls.ca_file (endpoint reads take the fast HTTP reader over
// TLS too), and a missing or wrong CA named with the setting to change. The server back end only:
// the embedded engine has no network connection to secure.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.ts';
import { spawnTally, until } from '../support/tally-process.ts';
import { copyCertsInto } from '../support/test-certs.ts';
import { CLICKHOUSE_USER, startTlsClickHouse, type TlsClickHouse } from '../support/tls-clickhouse.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');
const DIR = join(REPO, '.tally', 'test', `clickhouse-tls-${process.pid}`);

let ch: TlsClickHouse;
/** A second server that requires a client certificate signed by the same test CA. */
let mutual: TlsClickHouse;

beforeAll(async () => {
  ch = await startTlsClickHouse(DIR, () => {});
  mutual = await startTlsClickHouse(join(DIR, 'mutual'), () => {}, {
    requireClientCertificate: true,
    certs: ch.certs,
  });
}, 120_000);

afterAll(async () => {
  await ch?.server.stop();
  await mutual?.server.stop();
  rmSync(DIR, { recursive: true, force: true });
  removeProjects();
});

/** A project on the TLS server, the `clickhouse:` lines besides url and user given. */
function project(clickhouseYaml: string): string {
  const dir = writeProject({
    'tally.yaml': `name: tls\nclickhouse:\n  url: \${CH_URL}\n  user: ${CLICKHOUSE_USER.user}\n  password: "\${CH_PASSWORD}"\n${clickhouseYaml}`,
    'datasources/events.datasource.yaml':
      'columns:\n  - { name: id, type: String, json: $.id }\n  - { name: n, type: Int64, json: $.n }\nengine: { sorting_key: [id] }\n',
    'pipes/total.pipe.yaml':
      'params:\n  min: { type: Int64, default: 0 }\nnodes:\n  - name: t\n    sql: SELECT count() AS rows, sum(n) AS total FROM events WHERE n >= {{ min }}\n',
    'endpoints/total.endpoint.yaml': 'pipe: total\n',
  });
  copyCertsInto(dir, ch.certs);
  return dir;
}

let databases = 0;
const env = (password = CLICKHOUSE_USER.password, url = ch.httpsUrl): NodeJS.ProcessEnv => ({
  CH_URL: url,
  CH_PASSWORD: password,
  TALLY_CLICKHOUSE_DATABASE: `tls_${process.pid}_${++databases}`,
});

describe('Tally on a ClickHouse server behind TLS [server]', () => {
  it('with clickhouse.tls.ca_file: deploy, append and an endpoint with params over https', async () => {
    const dir = project('  tls: { ca_file: certs/ca.pem }\n');
    const vars = env();
    const deploy = spawnTally(['deploy', '--project', dir], vars);
    expect(await deploy.exited, deploy.output()).toBe(0);
    const file = join(dir, 'events.ndjson');
    writeFileSync(file, [1, 2, 3, 4].map((n) => JSON.stringify({ id: `e${n}`, n })).join('\n'));
    const append = spawnTally(['append', 'events', '--file', file, '--project', dir], vars);
    expect(await append.exited, append.output()).toBe(0);
    expect(append.output()).toContain(`4 rows to events on ClickHouse 18.16.1 at ${ch.httpsUrl}: 4 sent`);
    const port = await freePort();
    const serve = spawnTally(['serve', '--project', dir, '--port', String(port)], vars);
    try {
      const answer = await until(
        'the endpoint',
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/total.json?min=2`);
          return res.status === 200
            ? ((await res.json()) as { data: Array<Record<string, unknown>> })
            : undefined;
        },
        serve.output,
      );
      expect(answer.data).toEqual([{ rows: 3, total: 9 }]);
      const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
        clickhouse: { ok: boolean };
      };
      expect(health.clickhouse.ok).toBe(true);
    } finally {
      serve.child.kill('SIGTERM');
      expect(await serve.exited, serve.output()).toBe(0);
    }
  }, 120_000);

  it.each([
    ['no clickhouse.tls', ''],
    ['a CA that did not sign the certificate', '  tls: { ca_file: certs/other-ca.pem }\n'],
  ])(
    '%s: tally deploy exits 2 and names clickhouse.tls.ca_file',
    async (_label, tls) => {
      const dir = project(tls);
      const deploy = spawnTally(['deploy', '--project', dir], env());
      expect(await deploy.exited, deploy.output()).toBe(2);
      expect(deploy.output()).toContain(`cannot connect to ClickHouse at ${ch.httpsUrl} over TLS`);
      expect(deploy.output()).toContain(
        "hint: the server's TLS certificate is signed by a CA this machine does not trust: set clickhouse.tls.ca_file",
      );
    },
    60_000,
  );

  it('a server that requires a client certificate: cert_file and key_file with the password user', async () => {
    const mtls =
      '  tls: { ca_file: certs/ca.pem, cert_file: certs/client.crt, key_file: certs/client.key }\n';
    const vars = env(CLICKHOUSE_USER.password, mutual.httpsUrl);
    const deploy = spawnTally(['deploy', '--project', project(mtls)], vars);
    expect(await deploy.exited, deploy.output()).toBe(0);
    const file = join(REPO, '.tally', 'test', `mtls-${process.pid}.ndjson`);
    writeFileSync(file, `${JSON.stringify({ id: 'm1', n: 5 })}\n`);
    const dir = project(mtls);
    const append = spawnTally(['append', 'events', '--file', file, '--project', dir], vars);
    expect(await append.exited, append.output()).toBe(0);
    expect(append.output()).toContain(`1 row to events on ClickHouse 18.16.1 at ${mutual.httpsUrl}: 1 sent`);
    rmSync(file);
    // Without the client certificate the handshake is refused, and the hint names both files.
    const without = spawnTally(['deploy', '--project', project('  tls: { ca_file: certs/ca.pem }\n')], vars);
    expect(await without.exited, without.output()).toBe(2);
    expect(without.output()).toContain(`cannot connect to ClickHouse at ${mutual.httpsUrl} over TLS`);
    expect(without.output()).toContain('set (or check) clickhouse.tls.cert_file and clickhouse.tls.key_file');
  }, 120_000);

  it('a wrong password over TLS: exit 2 naming the user, and the password is not printed', async () => {
    const dir = project('  tls: { ca_file: certs/ca.pem }\n');
    const deploy = spawnTally(['deploy', '--project', dir], env('wrong-pass-9'));
    expect(await deploy.exited, deploy.output()).toBe(2);
    expect(deploy.output()).toContain(`Wrong password for user ${CLICKHOUSE_USER.user}`);
    expect(deploy.output()).not.toContain('wrong-pass-9');
  }, 60_000);

  it('tally check refuses a clickhouse.tls without ca_file, at its line', async () => {
    const dir = project('  tls: { cert_file: certs/ca.pem, key_file: certs/ca.pem }\n');
    const check = spawnTally(['check', '--project', dir], env());
    expect(await check.exited, check.output()).toBe(1);
    expect(check.output()).toMatch(/tally\.yaml:6:\d+: error: clickhouse\.tls needs ca_file/);
  }, 60_000);
});
