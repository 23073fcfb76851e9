import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { createTableSql } from '../../../src/deploy/ddl.ts';
import { replayTarget } from '../../../src/replay/replay.ts';
import { eventsProject, project } from '../../support/model-builder.ts';

describe('tally replay on a cluster', () => {
  it('finds the target as on one server, with the cluster in its DDL context', () => {
    const p = eventsProject();
    const onCluster = project(
      { datasources: [...p.datasources.values()], pipes: [...p.pipes.values()] },
      { cluster: 'tally_cluster' },
    );
    // Nothing is queried: the engine is only asked for its database and capabilities.
    const engine = { database: 'tally', capabilities: capabilitiesFor('18.16.1') } as Engine;
    const pipe = [...p.pipes.keys()][0]!;
    const t = replayTarget(onCluster, engine, pipe);
    expect(t.ctx.cluster).toBe('tally_cluster');
    expect(t.views.map((v) => v.pipe)).toContain(pipe);
    // The swap (--apply) builds a replicated next table ON CLUSTER, like deploy's recompute.
    expect(createTableSql(t.spec, t.ctx, `${t.target}__tally_next`)).toMatch(
      /ON CLUSTER `tally_cluster`[\s\S]*ENGINE = Replicated/,
    );
  });

  it('finds the target on a cluster of several shards too, with a sharded DDL context', () => {
    const p = eventsProject();
    const onShards = project(
      { datasources: [...p.datasources.values()], pipes: [...p.pipes.values()] },
      { cluster: 'tally_shards' },
    );
    const engine = { database: 'tally', capabilities: capabilitiesFor('18.16.1'), shards: 2 } as Engine;
    expect(replayTarget(onShards, engine, [...p.pipes.keys()][0]!).ctx.sharded).toBe(true);
  });
});
