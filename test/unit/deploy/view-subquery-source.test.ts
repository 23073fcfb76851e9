import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { ViewSpec } from '../../../src/deploy/ddl.ts';
import { checkViewSubquerySources, readsSubquery } from '../../../src/deploy/view-subquery-source.ts';
import { TallyError } from '../../../src/errors.ts';
import type { Project } from '../../../src/project/model.ts';

const loc = { file: 'pipes/state_mv.pipe.yaml', line: 9, col: 1 };
const project = {
  pipes: new Map([
    ['state_mv', { name: 'state_mv', loc, nodes: [{}, {}], materialize: { to: 'state', loc } }],
  ]),
} as unknown as Pick<Project, 'pipes'>;
const view = (query: string) =>
  ({
    name: 'v',
    pipe: 'state_mv',
    source: 'orders',
    target: 'state',
    reads: ['orders'],
    query,
    hash: '',
  }) as ViewSpec;
const NESTED =
  'SELECT id, argMaxState(t, ts) AS total FROM (SELECT id, ts, if(s = 1, 0, amount) AS t FROM `db`.`orders`) AS effective GROUP BY id';

describe('readsSubquery', () => {
  it('finds a subquery in the outermost FROM, in any branch of a UNION', () => {
    expect(readsSubquery(NESTED)).toBe(true);
    expect(readsSubquery('SELECT a FROM t UNION ALL SELECT a FROM ( SELECT a FROM u )')).toBe(true);
    expect(readsSubquery('SELECT a FROM\n  -- the earlier node\n  (SELECT a FROM u)')).toBe(true);
  });

  it('does not take a FROM inside a function, a string, or a subquery elsewhere for one', () => {
    expect(readsSubquery("SELECT extract(YEAR FROM ts) AS y, 'FROM (x)' AS s FROM t")).toBe(false);
    expect(readsSubquery('SELECT a FROM t WHERE a IN (SELECT a FROM (SELECT a FROM u))')).toBe(false);
    expect(readsSubquery('SELECT a FROM t AS x JOIN (SELECT a, b FROM u) AS y USING a')).toBe(false);
    expect(readsSubquery('SELECT sumState(amount) AS s FROM `db`.`orders` GROUP BY id')).toBe(false);
  });
});

describe('checkViewSubquerySources', () => {
  it('refuses a view over a subquery on 18.16, at the pipe file, saying what would be lost', () => {
    let err: unknown;
    try {
      checkViewSubquerySources(project, [view(NESTED)], capabilitiesFor('18.16.1.1'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TallyError);
    const e = err as TallyError;
    expect(e.code).toBe('unsupported-on-server');
    expect(e.location).toEqual(loc);
    expect(e.message).toContain(
      'materialized pipe state_mv has 2 nodes, so its view reads the earlier ones as a subquery',
    );
    expect(e.message).toContain(
      'ClickHouse 18.16.1.1 runs a view over the inserted rows in place of that subquery',
    );
    expect(e.hint).toContain('write state_mv as one node that reads orders directly');
  });

  it('accepts it on a server that substitutes the inner table, and a one-node view on 18.16', () => {
    expect(() =>
      checkViewSubquerySources(project, [view(NESTED)], capabilitiesFor('26.7.2.1')),
    ).not.toThrow();
    expect(() =>
      checkViewSubquerySources(
        project,
        [view('SELECT id, sumState(amount) AS s FROM `db`.`orders` GROUP BY id')],
        capabilitiesFor('18.16.1.1'),
      ),
    ).not.toThrow();
  });
});
