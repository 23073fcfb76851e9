import { describe, expect, it } from 'vitest';
import { parseIngest } from '../../../bench/lib/adapters.ts';

// The shape bench/ingest.ts prints with --rounds 3 (figures made up, arithmetic kept).
const OUTPUT = `ingest bench: 1,000,000 events, 4 partitions, ClickHouse 18.16.1 at http://127.0.0.1:8123, Kafka 127.0.0.1:9092
Tally data source: dedup_key transaction_id

round 1 of 3: Tally 100,000, straight HTTP 600,000, Kafka engine 110,000 (sustained, rows/s); Tally peak RSS 250 MB
round 2 of 3: Tally 120,000, straight HTTP 650,000, Kafka engine 100,000 (sustained, rows/s); Tally peak RSS 290 MB
round 3 of 3: Tally 110,000, straight HTTP 700,000, Kafka engine 105,000 (sustained, rows/s); Tally peak RSS 260 MB

                                     sustained (10% -> 90% of the rows, median of 3 rounds)   end to end (with group join)
Tally (Kafka -> ClickHouse)             9.09 s     110,000 rows/s    30.5 MB/s      9.50 s     105,263 rows/s    29.2 MB/s
HTTP JSONEachRow, 100k-row inserts      1.54 s     650,000 rows/s   180.0 MB/s      1.54 s     650,000 rows/s   180.0 MB/s
ClickHouse Kafka engine + MV            9.52 s     105,000 rows/s    29.1 MB/s      9.60 s     104,167 rows/s    28.9 MB/s

Tally / straight HTTP (sustained):          0.17  (target >= 0.70)
Tally / ClickHouse Kafka engine (sustained): 1.05  (target >= 1.00)
Tally process: CPU 8.9 s user + 1.1 s system (1.05 cores), peak RSS 290 MB (target <= 300)
Tally counts: stored 1000000, duplicates 0, quarantined 0
Tally flushes: 48; waiting on ClickHouse: lookups 4.05 s, inserts 4.47 s, bookkeeping 3.35 s
`;

describe('parseIngest', () => {
  const out = parseIngest(OUTPUT);
  const byTarget = (id: string) => out.metrics.find((m) => m.targetId === id);

  it('judges the targets on the medians the script prints, not on a round', () => {
    expect(byTarget('ingest-kafka-engine')?.value).toBe(110_000);
    expect(byTarget('ingest-kafka-engine')?.baseline?.value).toBe(105_000);
    expect(byTarget('ingest-kafka-engine')?.ratio).toBeCloseTo(110 / 105, 6);
    expect(byTarget('ingest-http')?.ratio).toBeCloseTo(110 / 650, 6);
    expect(byTarget('ingest-rss')?.value).toBe(290);
  });

  it('keeps every round as a note', () => {
    const rounds = (out.notes ?? []).filter((n) => n.startsWith('round '));
    expect(rounds).toHaveLength(3);
    expect(rounds[1]).toContain('Kafka engine 100,000');
  });

  it('names a run without a dedup_key in its figures, so it is told from the dedup run', () => {
    const plain = parseIngest(
      OUTPUT.replace(
        'Tally data source: dedup_key transaction_id',
        'Tally data source: no dedup_key (Kafka coordinates)',
      ),
    );
    const engine = plain.metrics.find((m) => m.targetId === 'ingest-kafka-engine');
    expect(engine?.name).toContain('(no dedup_key)');
    expect(engine?.baseline?.name).not.toContain('dedup');
    expect(byTarget('ingest-kafka-engine')?.name).not.toContain('dedup');
  });

  it('refuses an output without the Tally line', () => {
    expect(() => parseIngest(OUTPUT.replace('Tally (Kafka -> ClickHouse)', 'Tally?'))).toThrow(
      /no "Tally \(Kafka -> ClickHouse\)" line/,
    );
  });
});
