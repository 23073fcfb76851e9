// A private KRaft broker with the listeners a production Kafka has: SASL (PLAIN and SCRAM) in
// plain text and over TLS, and TLS with client certificates (mutual TLS). The same jars as
// `tally services up`; a plaintext listener stays for the readiness probe and the test's admin.
import { join } from 'node:path';
import type { KafkaListeners } from '../../src/services/kafka-config.ts';
import { PrivateKafka, type PrivateKafkaPorts } from '../chaos/private-kafka.ts';
import { freePort } from './free-port.ts';
import { makeTestCerts, type TestCerts } from './test-certs.ts';
import { startTestIdp, type TestIdp } from './test-idp.ts';

/** The one user the broker knows, for every SASL mechanism. */
export const KAFKA_USER = { username: 'tally', password: 'tally-secret-7' };

/** The identity provider's clients: tokens the broker takes, short-lived ones, a wrong audience. */
export const OAUTH_CLIENTS = {
  tally: { secret: 'idp-secret-1', audience: 'kafka', lifetimeS: 3600 },
  'tally-short': { secret: 'idp-secret-2', audience: 'kafka', lifetimeS: 22 },
  'tally-flaky': { secret: 'idp-secret-4', audience: 'kafka', lifetimeS: 12 },
  'billing-app': { secret: 'idp-secret-3', audience: 'billing', lifetimeS: 3600 },
} as const;

export interface SecuredKafka {
  kafka: PrivateKafka;
  certs: TestCerts;
  /** host:port of each listener. */
  plaintext: string;
  saslPlaintext: string;
  saslSsl: string;
  /** TLS that requires a client certificate signed by the test CA. */
  mtls: string;
  /** SASL_PLAINTEXT with OAUTHBEARER: JWTs checked against the test identity provider's JWKS. */
  oauth: string;
  idp: TestIdp;
  stop(): Promise<void>;
}

export async function startSecuredKafka(dir: string, log: (line: string) => void): Promise<SecuredKafka> {
  const certs = await makeTestCerts(join(dir, 'certs'));
  const idp = await startTestIdp(OAUTH_CLIENTS);
  const more = {
    sasl: await freePort(),
    saslSsl: await freePort(),
    mtls: await freePort(),
    oauth: await freePort(),
  };
  const ports: PrivateKafkaPorts = { broker: await freePort(), controller: await freePort(), ...more };
  const user = `name=${KAFKA_USER.username},password=${KAFKA_USER.password}`;
  const kafka = new PrivateKafka(join(dir, 'kafka'), ports, '256m', {
    properties: (l, dataDir) => securedProperties(l, more, certs, idp, dataDir),
    formatArgs: ['--add-scram', `SCRAM-SHA-256=[${user}]`, '--add-scram', `SCRAM-SHA-512=[${user}]`],
    // Kafka 4 fetches only the OAuth URLs this property lists.
    jvmArgs: [`-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=${idp.jwksUrl}`],
  });
  try {
    await kafka.prepare(log);
    await kafka.start();
  } catch (err) {
    await idp.close();
    throw err;
  }
  const at = (port: number) => `127.0.0.1:${port}`;
  return {
    kafka,
    certs,
    plaintext: at(ports.broker),
    saslPlaintext: at(more.sasl),
    saslSsl: at(more.saslSsl),
    mtls: at(more.mtls),
    oauth: at(more.oauth),
    idp,
    stop: async () => {
      await kafka.stop();
      await idp.close();
    },
  };
}

function securedProperties(
  l: KafkaListeners,
  ports: { sasl: number; saslSsl: number; mtls: number; oauth: number },
  certs: TestCerts,
  idp: TestIdp,
  dataDir: string,
): string {
  const listeners = [
    `PLAINTEXT://127.0.0.1:${l.port}`,
    `SASL_PLAINTEXT://127.0.0.1:${ports.sasl}`,
    `SASL_SSL://127.0.0.1:${ports.saslSsl}`,
    `MTLS://127.0.0.1:${ports.mtls}`,
    `OAUTH://127.0.0.1:${ports.oauth}`,
  ];
  const plain = `org.apache.kafka.common.security.plain.PlainLoginModule required user_${KAFKA_USER.username}="${KAFKA_USER.password}";`;
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  const jaas = (listener: string) => [
    `listener.name.${listener}.plain.sasl.jaas.config=${plain}`,
    `listener.name.${listener}.scram-sha-256.sasl.jaas.config=${scram}`,
    `listener.name.${listener}.scram-sha-512.sasl.jaas.config=${scram}`,
  ];
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${l.controllerPort}`,
    `listeners=${listeners.join(',')},CONTROLLER://127.0.0.1:${l.controllerPort}`,
    `advertised.listeners=${listeners.join(',')}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL,OAUTH:SASL_PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    ...jaas('sasl_plaintext'),
    ...jaas('sasl_ssl'),
    // OAUTHBEARER as production brokers check it: a signed JWT, its key from the provider's JWKS,
    // the audience `kafka`; a connection must re-authenticate before its token expires.
    'listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER',
    'listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;',
    'listener.name.oauth.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler',
    'listener.name.oauth.oauthbearer.connections.max.reauth.ms=3600000',
    // Under the listener's prefix, as the validator reads them; and the broker-side validator
    // named, since Kafka 4.1's default one (DefaultJwtValidator) checks only the token's form.
    'sasl.oauthbearer.jwt.validator.class=org.apache.kafka.common.security.oauthbearer.BrokerJwtValidator',
    `sasl.oauthbearer.jwks.endpoint.url=${idp.jwksUrl}`,
    'sasl.oauthbearer.expected.audience=kafka',
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${certs.serverKeystore}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${certs.ca}`,
    'listener.name.mtls.ssl.client.auth=required',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}
