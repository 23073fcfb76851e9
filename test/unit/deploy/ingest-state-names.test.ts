import { expect, it } from 'vitest';
import { ingestStateOf } from '../../../src/deploy/names.ts';

it("names what ingestion keeps for one data source, not another's whose name starts the same", () => {
  const names = [
    'events',
    'events_quarantine',
    'tally_seen_events',
    'tally_seen_events__tally_shard',
    'tally_seen_events_mv_0a1b2c3d',
    'tally_wm_events_deadbeef',
    'tally_wmq_events_12345678',
    'tally_probe_events_9abcdef0',
    // events_b's, and names that only look alike
    'tally_seen_events_b',
    'tally_seen_events_b_mv_0a1b2c3d',
    'tally_wm_events_b_deadbeef',
    'tally_wmq_events_b_12345678',
    'tally_seen_events_mv_0a1b2c3',
    'tally_ingest_offsets',
  ];
  expect(ingestStateOf('events', names)).toEqual({
    views: ['tally_seen_events_mv_0a1b2c3d', 'tally_wm_events_deadbeef', 'tally_wmq_events_12345678'],
    tables: ['tally_probe_events_9abcdef0', 'tally_seen_events', 'tally_seen_events__tally_shard'],
  });
  expect(ingestStateOf('events_b', names)).toEqual({
    views: ['tally_seen_events_b_mv_0a1b2c3d', 'tally_wm_events_b_deadbeef', 'tally_wmq_events_b_12345678'],
    tables: ['tally_seen_events_b'],
  });
  expect(ingestStateOf('other', names)).toEqual({ views: [], tables: [] });
});
