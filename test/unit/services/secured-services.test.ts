import { describe, expect, it } from 'vitest';
import { servicesCommand } from '../../../src/cli/commands/services.ts';
import { securedServices } from '../../../src/services/secured-services.ts';

describe('securedServices', () => {
  it('names https ClickHouse and Kafka with ssl or sasl, with the keys that make them so', () => {
    expect(securedServices({ url: 'http://127.0.0.1:8123' }, { ssl: false })).toEqual(new Map());
    expect(securedServices({}, { ssl: false })).toEqual(new Map());
    const both = securedServices(
      { url: 'https://ch:8443' },
      { ssl: { ca: 'x' }, sasl: { mechanism: 'plain', username: 'u', password: 'p' } },
    );
    expect([...both]).toEqual([
      ['clickhouse', 'clickhouse.url https://ch:8443 is reached over TLS'],
      ['kafka', 'kafka.ssl and kafka.sasl are set'],
    ]);
    expect(securedServices({}, { ssl: true }).get('kafka')).toBe('kafka.ssl is set');
  });

  it('tally services refuses a secured service named on the command line, before probing anything', async () => {
    const secured = securedServices(
      {},
      { ssl: false, sasl: { mechanism: 'plain', username: 'u', password: 'p' } },
    );
    const out: string[] = [];
    await expect(
      servicesCommand(['up', 'kafka'], {
        projectDir: '/nonexistent',
        json: false,
        stdout: (s) => out.push(s),
        secured,
      }),
    ).rejects.toMatchObject({
      code: 'service-secured',
      message:
        'kafka: kafka.sasl is set; `tally services` starts and checks plain servers on this machine only',
    });
    expect(out).toEqual([]);
  });
});
