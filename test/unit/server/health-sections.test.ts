import { afterAll, describe, expect, it } from 'vitest';
import { emptyTotals } from '../../../src/ingest/datasource-sink.ts';
import type { IngestStats } from '../../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { ingestHealth } from '../../../src/server/health-sections.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

afterAll(removeProjects);

const project = () =>
  loadProjectOrThrow(
    writeProject({
      'tally.yaml': 'name: health-test\n',
      'datasources/tx.datasource.yaml':
        'columns:\n  - { name: id, type: String }\n  - { name: n, type: Int64 }\nengine: { sorting_key: [id] }\n',
      'datasources/totals.datasource.yaml':
        'columns:\n  - { name: n, type: Int64 }\nengine: { sorting_key: [n] }\n',
      'pipes/totals.pipe.yaml':
        'nodes:\n  - name: q\n    sql: SELECT n FROM tx\nmaterialize: { to: totals }\n',
      'datasources/sums.datasource.yaml':
        'columns:\n  - { name: id, type: String }\n  - { name: s, type: "AggregateFunction(sum, Int64)" }\nengine: { type: AggregatingMergeTree, sorting_key: [id] }\n',
      'pipes/sums.pipe.yaml':
        'nodes:\n  - name: q\n    sql: SELECT id, sumState(n) AS s FROM tx GROUP BY id\nmaterialize: { to: sums }\n',
    }),
    { env: {} },
  );

const stats = (
  totals: Record<string, unknown>,
  viewsMissingRows: Record<string, unknown> = {},
): IngestStats =>
  ({
    datasources: [
      {
        name: 'tx',
        totals: {
          flushes: 3,
          stored: 10,
          quarantined: 0,
          duplicates: 0,
          skipped: 0,
          bytes: 1,
          failures: 1,
          ms: {},
          ...totals,
        },
        viewsMissingRows,
      },
    ],
  }) as unknown as IngestStats;

describe("/health's ingest section", () => {
  it('is ok when writes succeed and no view failed', () => {
    expect(ingestHealth(stats({}), project())).toEqual({
      ok: true,
      datasources: { tx: { taking_events: true } },
    });
  });

  it('lists a view that failed on stored rows with its pipe and the replay to run, and is not ok', () => {
    const now = Date.now();
    const h = ingestHealth(
      stats(
        {},
        { totals_mv: { failures: 2, firstAt: now - 60_000, lastAt: now - 5000, error: 'Division by zero' } },
      ),
      project(),
    );
    expect(h?.ok).toBe(false);
    const [v] = h!.datasources.tx!.views_missing_rows!;
    expect(v).toMatchObject({
      view: 'totals_mv',
      pipe: 'totals',
      failures: 2,
      first_s_ago: 60,
      last_s_ago: 5,
      error: 'Division by zero',
    });
    expect(v!.hint).toContain('`tally replay totals --apply`');
    // The write itself succeeded: the data source still takes events.
    expect(h!.datasources.tx!.taking_events).toBe(true);
    expect(h!.datasources.tx!.failing_s).toBeUndefined();
  });

  it('names a view no pipe of the project makes without a pipe', () => {
    const h = ingestHealth(
      stats({}, { ab_fail: { failures: 1, firstAt: Date.now(), lastAt: Date.now(), error: 'x' } }),
      project(),
    );
    const [v] = h!.datasources.tx!.views_missing_rows!;
    expect(v!.pipe).toBeUndefined();
    expect(v!.hint).toContain('tally replay <pipe> --apply');
  });

  it('leaves out a data source only materialized pipes fill (aggregate states): it takes no events by design', () => {
    const sums = {
      name: 'sums',
      totals: emptyTotals(),
      error: '`sums` holds aggregate states; a materialized pipe fills it',
      errorCode: 'ingest-unsupported',
    };
    const withSums = (extra: Record<string, unknown> = {}) => {
      const s = stats({ failures: 0 });
      (s.datasources as unknown[]).push({ ...sums, ...extra });
      return s;
    };
    expect(ingestHealth(withSums(), project())).toEqual({
      ok: true,
      datasources: { tx: { taking_events: true } },
    });
    // A view that failed on its rows is still news.
    const h = ingestHealth(
      withSums({
        viewsMissingRows: { x_mv: { failures: 1, firstAt: Date.now(), lastAt: Date.now(), error: 'x' } },
      }),
      project(),
    );
    expect(h?.ok).toBe(false);
    expect(h!.datasources.sums).toMatchObject({
      taking_events: false,
      views_missing_rows: [{ view: 'x_mv' }],
    });
    expect(h!.datasources.sums!.error).toBeUndefined();
  });

  it('still reports a data source that cannot take the events it is declared to take', () => {
    const s = stats({ failures: 0 });
    (s.datasources[0] as { error?: string; errorCode?: string }).error = 'table `tx` lacks column(s) n';
    (s.datasources[0] as { error?: string; errorCode?: string }).errorCode = 'ingest-not-deployed';
    const h = ingestHealth(s, project());
    expect(h?.ok).toBe(false);
    expect(h!.datasources.tx).toEqual({ taking_events: false, error: 'table `tx` lacks column(s) n' });
  });
});
