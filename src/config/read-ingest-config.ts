/**
 * The `ingest:` section of tally.yaml: how much a Kafka fetch asks for and how long the broker
 * may wait to fill it, how a fetch is cut into inserts, how much is buffered, and the largest
 * events API request. Sizes are bytes, as an integer or with a binary unit (`512KiB`, `4MiB`).
 */
import type { Node } from 'yaml';
import type { MapView, YamlReader } from '../yaml/yaml-reader.ts';
import type { IngestConfig } from './config.ts';
import { INGEST_DEFAULTS } from './ingest-defaults.ts';

export const INGEST_KEYS = [
  'flush_rows',
  'flush_bytes',
  'fetch_bytes',
  'fetch_partition_bytes',
  'fetch_min_bytes',
  'fetch_wait_ms',
  'buffer_bytes',
  'max_request_bytes',
  'dedup_window_days',
] as const;

const UNITS: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** `4MiB` -> 4194304; undefined for anything else (decimal units are refused: KB or KiB?). */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]) * UNITS[m[2] ?? '']!;
  return Number.isSafeInteger(n) ? n : undefined;
}

export function readIngestConfig(r: YamlReader, node: Node | null | undefined): IngestConfig {
  const out: IngestConfig = {};
  const m = r.map(node, '`ingest`', INGEST_KEYS);
  if (!m) return out;
  const count = (key: string, min: number) =>
    m.has(key) ? r.number(m.get(key), `ingest.${key}`, { integer: true, min }) : undefined;
  const size = (key: string) => (m.has(key) ? bytes(r, m, key) : undefined);
  const set = <K extends keyof IngestConfig>(k: K, v: IngestConfig[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('flushRows', count('flush_rows', 1));
  set('fetchWaitMs', count('fetch_wait_ms', 0));
  set('flushBytes', size('flush_bytes'));
  set('fetchBytes', size('fetch_bytes'));
  set('fetchPartitionBytes', size('fetch_partition_bytes'));
  set('fetchMinBytes', size('fetch_min_bytes'));
  set('bufferBytes', size('buffer_bytes'));
  set('maxRequestBytes', size('max_request_bytes'));
  set('dedupWindowDays', count('dedup_window_days', 1));
  // A flush larger than the buffer would wait for room that never comes; a partition's share or
  // a minimum larger than the whole fetch makes no sense. Unset keys count with their defaults.
  const v = { ...INGEST_DEFAULTS, ...out };
  const atMost = (key: string, other: string, a: number, b: number) => {
    if (m.has(key) || m.has(other)) {
      if (a > b)
        r.error(
          m.get(m.has(key) ? key : other),
          'invalid-config',
          `ingest.${key} (${a}${m.has(key) ? '' : ', its default'}) must be at most ingest.${other} (${b}${m.has(other) ? '' : ', its default'})`,
        );
    }
  };
  atMost('flush_bytes', 'buffer_bytes', v.flushBytes, v.bufferBytes);
  atMost('fetch_partition_bytes', 'fetch_bytes', v.fetchPartitionBytes, v.fetchBytes);
  atMost('fetch_min_bytes', 'fetch_bytes', v.fetchMinBytes, v.fetchBytes);
  return out;
}

function bytes(r: YamlReader, m: MapView, key: string): number | undefined {
  const node = m.get(key);
  const text = r.string(node, `ingest.${key}`);
  if (text === undefined) return undefined;
  const n = parseByteSize(text);
  if (n === undefined || n < 1) {
    r.error(
      node,
      'invalid-config',
      `ingest.${key} must be a positive size in bytes: an integer, or with KiB, MiB or GiB (e.g. 4MiB); got "${text}"`,
    );
    return undefined;
  }
  return n;
}
