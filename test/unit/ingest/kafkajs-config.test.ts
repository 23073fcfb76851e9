import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkajsConfig } from '../../../src/ingest/kafka-client.ts';
import { REAUTH_THRESHOLD_MS } from '../../../src/ingest/oauth-token-source.ts';

const base = { brokers: ['127.0.0.1:9092'], clientId: 'tally', ssl: false };

describe('kafkajsConfig', () => {
  it("OAUTHBEARER: kafkajs re-authenticates REAUTH_THRESHOLD_MS before a session ends, Tally's exchange in place of its own", () => {
    const config = kafkajsConfig(
      logLevel,
      {
        ...base,
        sasl: {
          mechanism: 'oauthbearer',
          tokenUrl: 'http://127.0.0.1:1/token',
          clientId: 'tally',
          clientSecret: 's',
        },
      },
      () => {},
    );
    // kafkajs's default (10 s) is above what a 12 s token leaves: the token source counts on this.
    expect(config.reauthenticationThreshold).toBe(REAUTH_THRESHOLD_MS);
    expect(REAUTH_THRESHOLD_MS).toBeLessThan(10_000);
    expect(config.sasl?.mechanism).toBe('oauthbearer');
    expect(typeof (config.sasl as { authenticationProvider?: unknown }).authenticationProvider).toBe(
      'function',
    );
  });

  it("other mechanisms keep kafkajs's threshold: their sessions end with connections.max.reauth.ms, not a token", () => {
    const config = kafkajsConfig(
      logLevel,
      { ...base, sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } },
      () => {},
    );
    expect(config.reauthenticationThreshold).toBeUndefined();
    expect(config.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'u', password: 'p' });
  });

  it('logs a rebalance or a coordinator not ready yet at info level, anything else as kafkajs rates it', () => {
    const entries: Array<{ level: string; msg: string }> = [];
    const config = kafkajsConfig(logLevel, base, (e) => entries.push(e as { level: string; msg: string }));
    const logger = config.logCreator!(logLevel.INFO);
    const entry = (level: number, message: string, extra: Record<string, unknown> = {}) =>
      logger({ namespace: 'x', level, label: 'ERROR', log: { timestamp: '', message, ...extra } });
    entry(logLevel.ERROR, 'Response Heartbeat(key: 12, version: 3)', {
      error: 'The group is rebalancing, so a rejoin is needed',
    });
    entry(logLevel.ERROR, '[Connection] Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    // A broker that has just started: its offsets topic is not made yet, kafkajs retries.
    entry(logLevel.ERROR, 'Response GroupCoordinator(key: 10, version: 2)', {
      error: 'The group coordinator is not available',
    });
    entry(logLevel.ERROR, 'Response FindCoordinator(key: 10, version: 2)', {
      error: "The coordinator is loading and hence can't process requests for this group",
    });
    entry(logLevel.WARN, 'Response Metadata(key: 3, version: 6)');
    // A consumer that crashed after its retries, whatever the cause, is an error.
    entry(
      logLevel.ERROR,
      'Crash: KafkaJSNumberOfRetriesExceeded: The group is rebalancing, so a rejoin is needed',
      {
        error: 'The group is rebalancing, so a rejoin is needed',
      },
    );
    expect(entries.map((e) => e.level)).toEqual(['info', 'error', 'info', 'info', 'warn', 'error']);
    expect(entries[0]!.msg).toBe('kafka: Response Heartbeat(key: 12, version: 3)');
  });
});
