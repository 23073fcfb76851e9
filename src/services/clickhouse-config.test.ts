import { describe, expect, it } from 'vitest';
import { clickhousePaths, renderClickHouseConfig } from './clickhouse-config.ts';

describe('renderClickHouseConfig', () => {
  const paths = clickhousePaths('/p/.tally/clickhouse');

  it('leaves the interserver port out unless asked (the shared server keeps its config)', () => {
    const xml = renderClickHouseConfig(paths, { http: 8123, tcp: 9000 });
    expect(xml).toContain('<http_port>8123</http_port>');
    expect(xml).not.toContain('interserver_http_port');
  });

  it('renders an interserver port when given one (a second server beside another)', () => {
    const xml = renderClickHouseConfig(paths, { http: 18123, tcp: 19000, interserver: 19009 });
    expect(xml).toContain('<tcp_port>19000</tcp_port>');
    expect(xml).toContain('<interserver_http_port>19009</interserver_http_port>');
    expect(xml).toContain('<listen_host>127.0.0.1</listen_host>');
  });
});
