import { describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { clusterBlocks, sameClusterBlocks } from '../../../src/deploy/cluster-nodes.ts';

/** An engine whose system.parts answers per node: `numbers` is what each host's shard holds. */
function partsOf(numbers: Record<string, number>): Engine {
  return {
    rows: async (sql: string) =>
      Object.entries(numbers)
        .filter(
          ([host]) => sql.includes(`'${host}'`) || sql.includes(`,${host}'`) || sql.includes(`'${host},`),
        )
        .map(([, b]) => ({ table: 't', partition_id: '202401', b })),
  } as unknown as Engine;
}

describe('block numbers of a cluster', () => {
  it('compares each shard with itself: a write to the shard with the lower counter shows', async () => {
    const shards = [['h1:9003'], ['h2:9004']];
    const before = await clusterBlocks(partsOf({ 'h1:9003': 40, 'h2:9004': 31 }), shards, 'db', ['t']);
    expect(before.get('t')).toEqual(
      new Map([
        ['1:202401', 40],
        ['2:202401', 31],
      ]),
    );
    const after = await clusterBlocks(partsOf({ 'h1:9003': 40, 'h2:9004': 32 }), shards, 'db', ['t']);
    expect(sameClusterBlocks(before, after)).toBe(false);
    expect(
      sameClusterBlocks(
        before,
        await clusterBlocks(partsOf({ 'h1:9003': 40, 'h2:9004': 31 }), shards, 'db', ['t']),
      ),
    ).toBe(true);
  });

  it('keeps plain partition ids for one shard (what a snapshot is compared with), and lists every table', async () => {
    const one = await clusterBlocks(partsOf({ 'h1:9001': 7 }), [['h1:9001', 'h2:9002']], 'db', ['t', 'u']);
    expect(one.get('t')).toEqual(new Map([['202401', 7]]));
    expect(one.get('u')).toEqual(new Map());
  });
});
