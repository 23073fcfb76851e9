// Tally against a Kafka secured as production brokers are: SASL (PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512) in plain text and over TLS with a CA of its own, and TLS that requires a client
// certificate. A private KRaft broker (test/support/secured-kafka.ts), `tally append` and
// `tally serve` as a user runs them, on both ClickHouse back ends: events land through each
// listener, and wrong credentials or missing certificates are named in /health with the setting
// to change, while nothing is stored. OAUTHBEARER too: tokens from an OAuth 2.0 token endpoint
// (test/support/test-idp.ts), signed JWTs the broker checks against the provider's JWKS.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopicsReady } from '../../src/ingest/kafka-client.ts';
import { CliDatabases } from '../support/cli-databases.ts';
import { freePort } from '../support/free-port.ts';
import { KAFKA_USER, OAUTH_CLIENTS, type SecuredKafka, startSecuredKafka } from '../support/secured-kafka.ts';
import { spawnTally, until } from '../support/tally-process.ts';
import { copyCertsInto } from '../support/test-certs.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');
const DIR = join(REPO, '.tally', 'test', `secured-kafka-${process.pid}`);
const databases = new CliDatabases('seckafka');
const TOPIC = 'secured_events';
/** Events produced before any Tally starts, through the plaintext listener. */
const BEFORE = 40;
const WRONG_PASSWORD = 'not-the-password-3';
/**
 * Events in the topic now, from its partitions' ends read through the plaintext listener: every
 * event has its own id, so each case expects them all, whichever cases ran before it.
 */
async function inTopic(): Promise<number> {
  const admin = new Kafka({ brokers: [sk.plaintext], clientId: 'test', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(TOPIC)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

let sk: SecuredKafka;

beforeAll(async () => {
  sk = await startSecuredKafka(DIR, () => {});
  const admin = new Kafka({ brokers: [sk.plaintext], clientId: 'test', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await createTopicsReady(admin, [{ topic: TOPIC, numPartitions: 2 }]);
  await admin.disconnect();
  await produce(Array.from({ length: BEFORE }, (_, i) => `k${i}`));
}, 180_000);

afterAll(async () => {
  await sk?.stop();
  rmSync(DIR, { recursive: true, force: true });
  await databases.dropAll();
  removeProjects();
});

interface Security {
  brokers: string;
  /** The tally.yaml lines under `kafka:` besides brokers. */
  yaml: string;
}

/** A project reading TOPIC, with the test CA and client certificate beside it. */
function project(security: Security): string {
  const dir = writeProject({
    'tally.yaml': `name: secured\nkafka:\n  brokers: ["\${SECURED_BROKERS}"]\n${security.yaml}`,
    'datasources/events.datasource.yaml': `source:\n  kafka: { topic: ${TOPIC}, start: earliest }\ncolumns:\n  - { name: id, type: String, json: $.id }\n  - { name: n, type: Int64, json: $.n }\nengine: { sorting_key: [id] }\ndedup_key: id\n`,
    'pipes/count.pipe.yaml':
      'nodes:\n  - name: c\n    sql: SELECT count() AS rows, uniqExact(id) AS ids FROM events\n',
    'endpoints/count.endpoint.yaml': 'pipe: count\n',
  });
  copyCertsInto(dir, sk.certs);
  return dir;
}

const sasl = (mechanism: string, password = '${SECURED_PASSWORD}') =>
  `  sasl: { mechanism: ${mechanism}, username: ${KAFKA_USER.username}, password: "${password}" }\n`;

type OAuthClient = keyof typeof OAUTH_CLIENTS;

/** `kafka.sasl` for OAUTHBEARER, the client secret from OAUTH_SECRET unless given. */
const oauth = (client: OAuthClient, secret = '${OAUTH_SECRET}') =>
  `  sasl:\n    mechanism: oauthbearer\n    token_url: ${sk.idp.tokenUrl}\n    client_id: ${client}\n    client_secret: "${secret}"\n    scope: kafka.ingest\n`;

/** Events through the plaintext listener, each with its own id. */
async function produce(ids: string[]): Promise<void> {
  const producer = new Kafka({
    brokers: [sk.plaintext],
    clientId: 'test',
    logLevel: logLevel.NOTHING,
  }).producer();
  await producer.connect();
  try {
    await producer.send({
      topic: TOPIC,
      acks: -1,
      messages: ids.map((id, n) => ({ value: JSON.stringify({ id, n }) })),
    });
  } finally {
    await producer.disconnect();
  }
}

/** `tally append events` of `ids` (a file in the project), run to its end. */
async function appendEvents(dir: string, ids: string[], vars: NodeJS.ProcessEnv) {
  const file = join(dir, 'more.ndjson');
  writeFileSync(file, `${ids.map((id, n) => JSON.stringify({ id, n })).join('\n')}\n`);
  const run = tally(['append', 'events', '--file', file, '--project', dir], vars);
  return { code: await run.exited, output: run.output() };
}

/** `tally` with the broker's password in the environment, as tally.yaml reads it. */
const tally = (args: string[], env: NodeJS.ProcessEnv) =>
  spawnTally(args, { SECURED_PASSWORD: KAFKA_USER.password, ...env });

interface Health {
  kafka?: { datasources: Record<string, { state: string; error?: string }> };
}

describe.each(['server', 'embedded'] as const)('Tally on a secured Kafka [%s]', (backend) => {
  const env = (brokers: string) =>
    databases.env(backend, {
      SECURED_BROKERS: brokers,
      ...(backend === 'embedded' ? { TALLY_CLICKHOUSE_URL: '' } : {}),
    });

  /** `tally serve --deploy` until the endpoint counts `rows` events; its output. */
  async function serveCounts(
    dir: string,
    brokers: string,
    rows: number,
    vars = env(brokers),
    command: string[] = ['serve', '--deploy'],
  ): Promise<void> {
    const port = await freePort();
    const run = tally([...command, '--project', dir, '--port', String(port)], vars);
    try {
      const got = await until(
        `${rows} events counted`,
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/count.json`);
          const body = (await res.json()) as { data: Array<{ rows: number | string; ids: number | string }> };
          const row = body.data[0];
          return row && Number(row.rows) === rows ? row : undefined;
        },
        run.output,
      );
      expect(Number(got.ids)).toBe(rows);
      const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as Health;
      expect(health.kafka?.datasources.events?.state).toBe('running');
    } finally {
      run.child.kill('SIGTERM');
      expect(await run.exited, run.output()).toBe(0);
    }
  }

  /** `tally serve --deploy` until /health names the consumer's error; the error. */
  async function serveRefused(
    dir: string,
    brokers: string,
    whileRefused: (port: number) => Promise<void> = async () => {},
    vars = env(brokers),
  ): Promise<string> {
    const port = await freePort();
    const run = tally(['serve', '--deploy', '--project', dir, '--port', String(port)], vars);
    try {
      const error = await until(
        'the refusal in /health',
        async () => {
          const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as Health;
          return health.kafka?.datasources.events?.error;
        },
        run.output,
        90_000,
      );
      const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/count.json`);
      const body = (await res.json()) as { data: Array<{ rows: number | string }> };
      expect(Number(body.data[0]?.rows)).toBe(0);
      await whileRefused(port);
      // Neither the right password (the variable) nor the wrong one reaches the log.
      expect(run.output()).not.toContain(KAFKA_USER.password);
      expect(run.output()).not.toContain(WRONG_PASSWORD);
      return error;
    } finally {
      run.child.kill('SIGTERM');
      expect(await run.exited, run.output()).toBe(0);
    }
  }

  it('SASL_SSL with SCRAM-SHA-512 and the CA from ca_file: tally append produces, tally serve ingests', async () => {
    const dir = project({
      brokers: sk.saslSsl,
      yaml: `  ssl: { ca_file: certs/ca.pem }\n${sasl('scram-sha-512')}`,
    });
    const vars = env(sk.saslSsl);
    const deploy = tally(['deploy', '--project', dir], vars);
    expect(await deploy.exited, deploy.output()).toBe(0);
    const append = await appendEvents(
      dir,
      Array.from({ length: 10 }, (_, i) => `${backend}-a${i}`),
      vars,
    );
    expect(append.code, append.output).toBe(0);
    expect(append.output).toContain(`10 rows to Kafka topic ${TOPIC}`);
    await serveCounts(dir, sk.saslSsl, await inTopic(), vars);
  }, 150_000);

  it.each([
    ['SASL_PLAINTEXT with PLAIN', 'plain'],
    ['SASL_PLAINTEXT with SCRAM-SHA-256', 'scram-sha-256'],
  ])(
    '%s',
    async (_label, mechanism) => {
      const dir = project({ brokers: sk.saslPlaintext, yaml: sasl(mechanism) });
      await serveCounts(dir, sk.saslPlaintext, await inTopic());
    },
    120_000,
  );

  it('tally dev on SASL_SSL: it connects to the secured broker instead of probing it as `services up` would', async () => {
    const dir = project({
      brokers: sk.saslSsl,
      yaml: `  ssl: { ca_file: certs/ca.pem }\n${sasl('scram-sha-256')}`,
    });
    await serveCounts(dir, sk.saslSsl, await inTopic(), env(sk.saslSsl), ['dev']);
  }, 120_000);

  it('TLS with a client certificate (cert_file, key_file) and the CA (ca_file)', async () => {
    const dir = project({
      brokers: sk.mtls,
      yaml: '  ssl: { ca_file: certs/ca.pem, cert_file: certs/client.crt, key_file: certs/client.key }\n',
    });
    await serveCounts(dir, sk.mtls, await inTopic());
  }, 120_000);

  it('a wrong password: /health names kafka.sasl, nothing is stored, the password is never printed', async () => {
    const dir = project({
      brokers: sk.saslSsl,
      yaml: `  ssl: { ca_file: certs/ca.pem }\n${sasl('scram-sha-512', WRONG_PASSWORD)}`,
    });
    const error = await serveRefused(dir, sk.saslSsl, async (port) => {
      // The events API, producing to the same brokers: 503 with the setting to change, not "retry".
      const res = await fetch(`http://127.0.0.1:${port}/v0/events?name=events`, {
        method: 'POST',
        body: '{"id":"e1","n":1}\n',
      });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: string };
      expect(body.error).toContain('check kafka.sasl (mechanism, username, password) in tally.yaml');
      expect(body.error).toContain('send with wait=true');
    });
    expect(error).toMatch(/authentication failed/i);
    expect(error).toContain('check kafka.sasl (mechanism, username, password) in tally.yaml');
  }, 150_000);

  it('a broker certificate from a CA not given: /health names kafka.ssl.ca_file', async () => {
    const dir = project({
      brokers: sk.saslSsl,
      yaml: `  ssl: { ca_file: certs/other-ca.pem }\n${sasl('scram-sha-512')}`,
    });
    const error = await serveRefused(dir, sk.saslSsl);
    expect(error).toMatch(/certificate/i);
    expect(error).toContain('set kafka.ssl.ca_file');
  }, 150_000);

  it('no client certificate where the broker requires one: /health names cert_file and key_file', async () => {
    const dir = project({ brokers: sk.mtls, yaml: '  ssl: { ca_file: certs/ca.pem }\n' });
    const error = await serveRefused(dir, sk.mtls);
    expect(error).toContain('set (or check) kafka.ssl.cert_file and kafka.ssl.key_file');
  }, 150_000);

  it('tally services leaves the secured broker alone: status says so, up kafka refuses', async () => {
    const dir = project({
      brokers: sk.saslSsl,
      yaml: `  ssl: { ca_file: certs/ca.pem }\n${sasl('scram-sha-512')}`,
    });
    const status = tally(['services', 'status', '--project', dir], env(sk.saslSsl));
    expect(await status.exited, status.output()).toBe(0);
    expect(status.output()).toContain(
      'kafka: left alone (kafka.ssl and kafka.sasl are set): `tally services` manages plain local servers only',
    );
    expect(status.output()).toMatch(/^clickhouse\s/m);
    expect(status.output()).not.toMatch(/^kafka\s/m);
    const up = tally(['services', 'up', 'kafka', '--project', dir], env(sk.saslSsl));
    expect(await up.exited, up.output()).toBe(2);
    expect(up.output()).toContain(
      'kafka: kafka.ssl and kafka.sasl are set; `tally services` starts and checks plain servers on this machine only',
    );
  }, 60_000);

  it('tally append with a wrong password stops at once and names kafka.sasl', async () => {
    const dir = project({ brokers: sk.saslPlaintext, yaml: sasl('plain', 'wrong') });
    const append = await appendEvents(dir, ['x'], env(sk.saslPlaintext));
    expect(append.code, append.output).toBe(2);
    expect(append.output).toContain('refused Tally');
    expect(append.output).toContain('hint: the brokers refused the credentials: check kafka.sasl');
  }, 60_000);

  const oauthEnv = (client: OAuthClient) => ({
    ...env(sk.oauth),
    OAUTH_SECRET: OAUTH_CLIENTS[client].secret,
  });

  it('SASL OAUTHBEARER with tokens from an OAuth 2.0 token endpoint: tally append produces, tally serve ingests', async () => {
    const dir = project({ brokers: sk.oauth, yaml: oauth('tally') });
    const vars = oauthEnv('tally');
    const before = sk.idp.issued.get('tally') ?? 0;
    const deploy = tally(['deploy', '--project', dir], vars);
    expect(await deploy.exited, deploy.output()).toBe(0);
    const append = await appendEvents(
      dir,
      Array.from({ length: 10 }, (_, i) => `${backend}-o${i}`),
      vars,
    );
    expect(append.code, append.output).toBe(0);
    expect(append.output).toContain(`10 rows to Kafka topic ${TOPIC}`);
    expect(sk.idp.issued.get('tally')).toBeGreaterThan(before);
    const afterAppend = sk.idp.issued.get('tally')!;
    await serveCounts(dir, sk.oauth, await inTopic(), vars);
    expect(sk.idp.issued.get('tally')).toBeGreaterThan(afterAppend);
    expect(append.output).not.toContain(OAUTH_CLIENTS.tally.secret);
  }, 150_000);

  it("a wrong client secret: /health and tally append name the token endpoint's 401 and kafka.sasl.client_id", async () => {
    const dir = project({ brokers: sk.oauth, yaml: oauth('tally', WRONG_PASSWORD) });
    const error = await serveRefused(dir, sk.oauth);
    expect(error).toContain(`the OAuth token endpoint ${sk.idp.tokenUrl} answered 401 for client tally`);
    expect(error).toContain('check kafka.sasl.client_id, client_secret and scope in tally.yaml');
    const append = await appendEvents(dir, ['x'], env(sk.oauth));
    expect(append.code, append.output).toBe(2);
    expect(append.output).toContain('answered 401 for client tally');
    expect(append.output).toContain('hint: check kafka.sasl.client_id, client_secret and scope');
    expect(append.output).not.toContain(WRONG_PASSWORD);
  }, 150_000);

  it('a token the brokers refuse (another audience): /health says the brokers refused the OAuth token', async () => {
    const dir = project({ brokers: sk.oauth, yaml: oauth('billing-app') });
    const issued = sk.idp.issued.get('billing-app') ?? 0;
    const error = await serveRefused(dir, sk.oauth, async () => {}, oauthEnv('billing-app'));
    expect(sk.idp.issued.get('billing-app')).toBeGreaterThan(issued);
    expect(error).toContain('the brokers refused the OAuth token: check kafka.sasl');
  }, 150_000);

  /** `tally serve --deploy` with a client's tokens; its endpoint's count, its /health, its end. */
  async function serveWith(client: OAuthClient) {
    const dir = project({ brokers: sk.oauth, yaml: oauth(client) });
    const port = await freePort();
    const run = tally(['serve', '--deploy', '--project', dir, '--port', String(port)], oauthEnv(client));
    const counted = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/v0/pipes/count.json`);
      const body = (await res.json()) as { data: Array<{ rows: number | string }> };
      return Number(body.data[0]?.rows);
    };
    return {
      run,
      /** Until the endpoint counts every event in the topic. */
      countsAll: async (timeoutMs?: number) => {
        const all = await inTopic();
        await until(
          `${all} events counted`,
          async () => ((await counted()) === all ? true : undefined),
          run.output,
          timeoutMs,
        );
      },
      health: async () =>
        ((await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as Health).kafka?.datasources.events,
      stop: async () => {
        run.child.kill('SIGTERM');
        expect(await run.exited, run.output()).toBe(0);
      },
    };
  }

  it('short-lived tokens: fetched again before they expire, and events still land after the first one ended', async () => {
    const before = sk.idp.issued.get('tally-short') ?? 0;
    const started = Date.now();
    const serve = await serveWith('tally-short');
    try {
      await serve.countsAll();
      // Past the first token's 22 s: the broker ends sessions whose token expired.
      const lifetimeMs = OAUTH_CLIENTS['tally-short'].lifetimeS * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, started + lifetimeMs + 3000 - Date.now())));
      await produce(Array.from({ length: 5 }, (_, i) => `${backend}-late${i}`));
      await serve.countsAll();
      expect(sk.idp.issued.get('tally-short')! - before).toBeGreaterThanOrEqual(2);
      expect((await serve.health())?.state).toBe('running');
    } finally {
      await serve.stop();
    }
  }, 150_000);

  it('the identity provider refuses for a while: kafkajs stops the consumer, Tally starts it again once tokens come back', async () => {
    const serve = await serveWith('tally-flaky');
    try {
      await serve.countsAll();
      sk.idp.refuse('tally-flaky', true);
      // The 12 s token ends; the next authentication is refused, and kafkajs gives up on the
      // consumer (a refusal is not retried) or restarts it.
      const error = await until(
        'the refusal in /health',
        async () => {
          const events = await serve.health();
          return events?.error?.includes('answered 401') ? events.error : undefined;
        },
        serve.run.output,
        60_000,
      );
      expect(error).toContain('check kafka.sasl.client_id, client_secret and scope');
      await produce(Array.from({ length: 5 }, (_, i) => `${backend}-flaky${i}`));
      sk.idp.refuse('tally-flaky', false);
      await serve.countsAll(90_000);
      expect((await serve.health())?.state).toBe('running');
    } finally {
      sk.idp.refuse('tally-flaky', false);
      await serve.stop();
    }
  }, 240_000);
});
