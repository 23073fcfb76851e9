import { describe, expect, expectTypeOf, it } from 'vitest';
import type { IngestStats } from '../../../src/ingest/ingestion.ts';
import {
  type IngestStatsView,
  MetricsRegistry,
  registerIngestMetrics,
  serverMetrics,
} from '../../../src/server/metrics.ts';
import { parsePrometheus } from './prometheus-text.ts';

describe('MetricsRegistry', () => {
  it('renders counters, gauges, histograms and collectors in the text format', () => {
    const r = new MetricsRegistry();
    const m = serverMetrics(r);
    m.requests.inc({ endpoint: 'balance', status: '200' });
    m.requests.inc({ endpoint: 'balance', status: '200' });
    m.requests.inc({ endpoint: 'balance', status: '400' });
    m.duration.observe({ endpoint: 'balance' }, 0.003);
    m.duration.observe({ endpoint: 'balance' }, 0.2);
    m.duration.observe({ endpoint: 'balance' }, 30);
    m.cache.inc({ endpoint: 'balance', result: 'hit' }, 5);
    m.clickhouseErrors.inc({ endpoint: 'balance', code: '396' });
    const lag = r.gauge('tally_ingest_lag', 'Messages behind', ['datasource', 'partition']);
    lag.set({ datasource: 'transactions', partition: '0' }, 12);
    lag.set({ datasource: 'transactions', partition: '0' }, 3);
    r.collect('tally_ingest_rows_total', 'Rows stored', 'counter', () => [
      { labels: { datasource: 'tx "quoted"\\ \n' }, value: 1e21 },
    ]);

    const p = parsePrometheus(r.render());
    expect(p.types.get('tally_http_requests_total')).toBe('counter');
    expect(p.types.get('tally_http_request_duration_seconds')).toBe('histogram');
    expect(p.get('tally_http_requests_total', { endpoint: 'balance', status: '200' })).toBe(2);
    expect(p.get('tally_http_requests_total', { endpoint: 'balance', status: '400' })).toBe(1);
    expect(p.get('tally_http_request_duration_seconds_count', { endpoint: 'balance' })).toBe(3);
    expect(p.get('tally_http_request_duration_seconds_bucket', { endpoint: 'balance', le: '0.005' })).toBe(1);
    expect(p.get('tally_http_request_duration_seconds_bucket', { endpoint: 'balance', le: '10' })).toBe(2);
    expect(p.get('tally_http_request_duration_seconds_sum', { endpoint: 'balance' })).toBeCloseTo(30.203);
    expect(p.get('tally_cache_requests_total', { result: 'hit' })).toBe(5);
    expect(p.get('tally_clickhouse_errors_total', { code: '396' })).toBe(1);
    expect(p.get('tally_ingest_lag', { partition: '0' })).toBe(3);
    expect(p.get('tally_ingest_rows_total', { datasource: 'tx "quoted"\\ \n' })).toBe(1e21);
  });

  it('returns the same series for the same name, and refuses a clash of types or bad names', () => {
    const r = new MetricsRegistry();
    const a = r.counter('x_total', 'x', ['k']);
    const b = r.counter('x_total', 'x', ['k']);
    a.inc({ k: 'v' });
    b.inc({ k: 'v' }, 2);
    expect(parsePrometheus(r.render()).get('x_total', { k: 'v' })).toBe(3);
    expect(() => r.gauge('x_total', 'x')).toThrow(/already registered as a counter/);
    expect(() => r.counter('bad-name', 'x')).toThrow(/invalid metric name/);
    expect(() => r.counter('ok_total', 'x', ['bad-label'])).toThrow(/invalid label name/);
    // counters never go down
    a.inc({ k: 'v' }, -5);
    expect(parsePrometheus(r.render()).get('x_total', { k: 'v' })).toBe(3);
  });

  it('skips a collector that throws, and keeps the rest', () => {
    const r = new MetricsRegistry();
    r.collect('broken', 'throws', 'gauge', () => {
      throw new Error('no');
    });
    r.gauge('fine', 'ok').set({}, 1);
    const p = parsePrometheus(r.render());
    expect(p.get('fine')).toBe(1);
    expect(p.samples.filter((s) => s.name === 'broken')).toEqual([]);
  });
});

describe('registerIngestMetrics', () => {
  it('takes what ingestion.stats() returns', () => {
    expectTypeOf<IngestStats>().toExtend<IngestStatsView>();
  });

  it('reads the ingestion counters and Kafka lag at each scrape', () => {
    const r = new MetricsRegistry();
    let stored = 10;
    registerIngestMetrics(r, () => ({
      restartRecoveries: { count: 2 },
      datasources: [
        {
          name: 'transactions',
          totals: { stored, quarantined: 2, duplicates: 3, skipped: 4, failures: 0 },
          kafka: {
            topic: 'tx',
            partitions: [
              { partition: 0, lag: 5 },
              { partition: 1, lag: 0 },
            ],
          },
        },
        { name: 'clicks', totals: { stored: 1, quarantined: 0, duplicates: 0, skipped: 0, failures: 1 } },
      ],
    }));
    let p = parsePrometheus(r.render());
    expect(p.get('tally_ingest_rows_total', { datasource: 'transactions' })).toBe(10);
    expect(p.get('tally_ingest_quarantined_total', { datasource: 'transactions' })).toBe(2);
    expect(p.get('tally_ingest_duplicates_total', { datasource: 'transactions' })).toBe(3);
    expect(p.get('tally_ingest_skipped_total', { datasource: 'transactions' })).toBe(4);
    expect(p.get('tally_ingest_flush_failures_total', { datasource: 'clicks' })).toBe(1);
    expect(p.get('tally_ingest_lag', { datasource: 'transactions', partition: '0' })).toBe(5);
    expect(p.types.get('tally_ingest_lag')).toBe('gauge');
    expect(p.get('tally_ingest_restart_recoveries_total', {})).toBe(2);
    expect(p.types.get('tally_ingest_restart_recoveries_total')).toBe('counter');
    stored = 15;
    p = parsePrometheus(r.render());
    expect(p.get('tally_ingest_rows_total', { datasource: 'transactions' })).toBe(15);
  });
});
