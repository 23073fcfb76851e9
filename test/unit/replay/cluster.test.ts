import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { TallyError } from '../../../src/errors.ts';
import { replayTarget } from '../../../src/replay/replay.ts';
import { eventsProject, project } from '../../support/model-builder.ts';

describe('tally replay on a cluster', () => {
  it('is refused before anything runs, saying why', () => {
    const p = eventsProject();
    const onCluster = project(
      { datasources: [...p.datasources.values()], pipes: [...p.pipes.values()] },
      { cluster: 'tally_cluster' },
    );
    // Nothing is queried: the engine is only asked for its database and capabilities.
    const engine = { database: 'tally', capabilities: capabilitiesFor('18.16.1') } as Engine;
    const pipe = [...p.pipes.keys()][0]!;
    let error: unknown;
    try {
      replayTarget(onCluster, engine, pipe);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TallyError);
    expect((error as TallyError).code).toBe('cluster-unsupported');
    expect((error as TallyError).message).toContain('clickhouse.cluster = tally_cluster');
  });
});
