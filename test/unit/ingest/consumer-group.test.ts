import { expect, it } from 'vitest';
import { consumerGroup } from '../../../src/ingest/ingestion.ts';
import { datasource } from '../../support/model-builder.ts';

const events = datasource('events', { columns: [{ name: 'id', type: 'String' }], kafka: true });

it('a server store shares its group: processes writing the same database split the partitions', () => {
  expect(consumerGroup(events, { database: 'shop' })).toBe('tally.shop.events');
  expect(consumerGroup(events, { database: 'shop' })).toBe(consumerGroup(events, { database: 'shop' }));
});

it('two embedded stores (two projects on one machine, both with database `tally`) get two groups', () => {
  const a = consumerGroup(events, { database: 'tally', dataPath: '/home/u/shop/.tally/chdb' });
  const b = consumerGroup(events, { database: 'tally', dataPath: '/home/u/shop-copy/.tally/chdb' });
  expect(a).toMatch(/^tally\.tally\.events\.[0-9a-f]{8}$/);
  expect(b).toMatch(/^tally\.tally\.events\.[0-9a-f]{8}$/);
  expect(a).not.toBe(b);
  // The same folder keeps its group from run to run.
  expect(consumerGroup(events, { database: 'tally', dataPath: '/home/u/shop/.tally/chdb' })).toBe(a);
});

it('kafka.group, when set, is the group whatever the store', () => {
  const named = { ...events, kafka: { ...events.kafka!, group: 'billing-ingest' } };
  expect(consumerGroup(named, { database: 'tally', dataPath: '/x/.tally/chdb' })).toBe('billing-ingest');
  expect(consumerGroup(named, { database: 'shop' })).toBe('billing-ingest');
});
