import type { ClickHouseConfig, KafkaConfig } from '../config/config.ts';
import type { ServiceName } from './service.ts';

/**
 * The services a project reaches over TLS or SASL, each with why: `tally services` starts plain
 * servers on this machine only, and its plain-text probes cannot speak to these (a TLS or SASL
 * listener would read as "a program that is not Kafka").
 */
export function securedServices(
  clickhouse: Pick<ClickHouseConfig, 'url' | 'tls'>,
  kafka: Pick<KafkaConfig, 'ssl' | 'sasl'>,
): Map<ServiceName, string> {
  const out = new Map<ServiceName, string>();
  if (clickhouse.url?.startsWith('https:') || clickhouse.tls) {
    out.set('clickhouse', `clickhouse.url ${clickhouse.url ?? ''} is reached over TLS`);
  }
  const keys = [kafka.ssl !== false ? 'kafka.ssl' : '', kafka.sasl ? 'kafka.sasl' : ''].filter(
    (k) => k !== '',
  );
  if (keys.length > 0) out.set('kafka', `${keys.join(' and ')} ${keys.length > 1 ? 'are' : 'is'} set`);
  return out;
}
