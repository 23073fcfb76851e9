// A private KRaft broker with the listeners a production Kafka has: SASL (PLAIN and SCRAM) in
// plain text and over TLS, and TLS with client certificates (mutual TLS). The same jars as
// `tally services up`; a plaintext listener stays for the readiness probe and the test's admin.
import { join } from 'node:path';
import type { KafkaListeners } from '../../src/services/kafka-config.ts';
import { PrivateKafka, type PrivateKafkaPorts } from '../chaos/private-kafka.ts';
import { freePort } from './free-port.ts';
import { makeTestCerts, type TestCerts } from './test-certs.ts';

/** The one user the broker knows, for every SASL mechanism. */
export const KAFKA_USER = { username: 'tally', password: 'tally-secret-7' };

export interface SecuredKafka {
  kafka: PrivateKafka;
  certs: TestCerts;
  /** host:port of each listener. */
  plaintext: string;
  saslPlaintext: string;
  saslSsl: string;
  /** TLS that requires a client certificate signed by the test CA. */
  mtls: string;
}

export async function startSecuredKafka(dir: string, log: (line: string) => void): Promise<SecuredKafka> {
  const certs = await makeTestCerts(join(dir, 'certs'));
  const more = { sasl: await freePort(), saslSsl: await freePort(), mtls: await freePort() };
  const ports: PrivateKafkaPorts = { broker: await freePort(), controller: await freePort(), ...more };
  const user = `name=${KAFKA_USER.username},password=${KAFKA_USER.password}`;
  const kafka = new PrivateKafka(join(dir, 'kafka'), ports, '256m', {
    properties: (l, dataDir) => securedProperties(l, more, certs, dataDir),
    formatArgs: ['--add-scram', `SCRAM-SHA-256=[${user}]`, '--add-scram', `SCRAM-SHA-512=[${user}]`],
  });
  await kafka.prepare(log);
  await kafka.start();
  const at = (port: number) => `127.0.0.1:${port}`;
  return {
    kafka,
    certs,
    plaintext: at(ports.broker),
    saslPlaintext: at(more.sasl),
    saslSsl: at(more.saslSsl),
    mtls: at(more.mtls),
  };
}

function securedProperties(
  l: KafkaListeners,
  ports: { sasl: number; saslSsl: number; mtls: number },
  certs: TestCerts,
  dataDir: string,
): string {
  const listeners = [
    `PLAINTEXT://127.0.0.1:${l.port}`,
    `SASL_PLAINTEXT://127.0.0.1:${ports.sasl}`,
    `SASL_SSL://127.0.0.1:${ports.saslSsl}`,
    `MTLS://127.0.0.1:${ports.mtls}`,
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
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL',
    'inter.broker.listener.name=PLAINTEXT',
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    ...jaas('sasl_plaintext'),
    ...jaas('sasl_ssl'),
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
