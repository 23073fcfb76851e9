import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { ViewSpec } from '../../../src/deploy/ddl.ts';
import { checkViewChains } from '../../../src/deploy/view-chains.ts';
import { TallyError } from '../../../src/errors.ts';
import type { Project } from '../../../src/project/model.ts';

const loc = (file: string) => ({ file, line: 3, col: 3 });
const view = (pipe: string, source: string, target: string) =>
  ({ name: pipe, pipe, source, target, reads: [source], query: '', hash: '' }) as ViewSpec;
const project = {
  pipes: new Map([
    [
      'totals',
      {
        name: 'totals',
        loc: loc('pipes/totals.pipe.yaml'),
        materialize: { to: 't', loc: loc('pipes/totals.pipe.yaml') },
      },
    ],
    [
      'rollup',
      {
        name: 'rollup',
        loc: loc('pipes/rollup.pipe.yaml'),
        materialize: { to: 'r', loc: loc('pipes/rollup.pipe.yaml') },
      },
    ],
  ]),
} as unknown as Pick<Project, 'pipes'>;

describe('checkViewChains', () => {
  const chain = [view('totals', 'events', 't'), view('rollup', 't', 'r')];

  it('refuses a view on another view target on 18.16, naming the pipe file and both pipes', () => {
    let err: unknown;
    try {
      checkViewChains(project, chain, capabilitiesFor('18.16.1.1'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TallyError);
    const e = err as TallyError;
    expect(e.code).toBe('unsupported-on-server');
    expect(e.location?.file).toBe('pipes/rollup.pipe.yaml');
    expect(e.message).toContain('materialized pipe rollup reads t, which materialized pipe totals fills');
  });

  it('accepts the chain on a server that fires chained views, and views side by side on 18.16', () => {
    expect(() => checkViewChains(project, chain, capabilitiesFor('26.7.2.1'))).not.toThrow();
    expect(() =>
      checkViewChains(
        project,
        [view('totals', 'events', 't'), view('rollup', 'events', 'r')],
        capabilitiesFor('18.16.1.1'),
      ),
    ).not.toThrow();
  });
});
