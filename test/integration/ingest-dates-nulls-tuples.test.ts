/**
 * Three ingestion edge cases end to end, through the events path (startIngestion + append):
 * - dates after 2105: 18.16 would store a Date as 0000-00-00 and a DateTime as a wrong time, so
 *   there the row is quarantined naming the column and the server's limit; current servers
 *   (chDB) store the value as is;
 * - LowCardinality(Nullable(String)) takes a missing field or null as NULL;
 * - a named Tuple filled by default_expr for some rows of a flush is inserted (as an array).
 */
import { afterAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

function project(): string {
  return writeProject({
    'tally.yaml': 'name: edge-types\n',
    'datasources/dated.datasource.yaml': [
      'columns:',
      '  - { name: id, type: String, json: $.id }',
      '  - { name: day, type: Date, json: $.day }',
      '  - { name: at, type: DateTime, json: $.at }',
      'engine: { sorting_key: [id] }',
    ].join('\n'),
    'datasources/visits.datasource.yaml': [
      'columns:',
      '  - { name: id, type: String, json: $.id }',
      '  - { name: city, type: "LowCardinality(Nullable(String))", json: $.city }',
      '  - { name: floor, type: "LowCardinality(UInt32)", json: $.floor, default: 0 }',
      '  - { name: day, type: "LowCardinality(Date)", json: $.day, default: "2024-01-01" }',
      'engine: { sorting_key: [id] }',
    ].join('\n'),
    'datasources/shapes.datasource.yaml': [
      'columns:',
      '  - { name: id, type: String, json: $.id }',
      '  - name: point',
      '    type: "Tuple(a UInt8, b Nullable(String))"',
      '    json: $.point',
      '    default_expr: "CAST((0, NULL), \'Tuple(a UInt8, b Nullable(String))\')"',
      'engine: { sorting_key: [id] }',
    ].join('\n'),
  });
}

afterAll(() => removeProjects());

forEachBackend(
  'ingesting dates after 2105, LowCardinality(Nullable) and of numbers and dates, computed named tuples',
  (ctx) => {
    it('deploys', async () => {
      const p = loadProjectOrThrow(project(), { env: {} });
      const deployed = await applyDeploy(p, ctx.engine);
      expect(deployed.ok, deployed.error).toBe(true);
    });

    async function withIngestion<T>(
      fn: (ingestion: Awaited<ReturnType<typeof startIngestion>>) => Promise<T>,
    ): Promise<T> {
      const p = loadProjectOrThrow(project(), { env: {} });
      const ingestion = await startIngestion(p, ctx.engine, undefined, { consume: false });
      try {
        return await fn(ingestion);
      } finally {
        await ingestion.stop();
      }
    }

    it('dates after 2105: quarantined on a server whose dates end in 2105, stored as is elsewhere', async () => {
      const caps = ctx.engine.capabilities;
      // The 18.16 server is the case; chDB is a current ClickHouse.
      expect(caps.datesEndIn2105).toBe(ctx.backend === 'server');
      const events = [
        '{"id":"a","day":"2105-12-31","at":"2105-12-31 23:59:59"}',
        '{"id":"b","day":"2149-06-06","at":"2024-01-01 00:00:00"}',
        '{"id":"c","day":"2024-01-01","at":"2106-02-07 06:28:15"}',
        '{"id":"d","day":"2106-01-01","at":4291747200}',
      ];
      const result = await withIngestion((i) => i.append('dated', events, { requestId: 'dates-1' }));
      const rows = await ctx.engine.rows<{ id: string; day: string; at: string }>(
        `SELECT id, toString(day) AS day, toString(toUnixTimestamp(at)) AS at FROM dated ORDER BY id`,
      );
      const refused = await ctx.engine.rows<{ id: string; columns: string[]; reason: string }>(
        `SELECT visitParamExtractString(raw, 'id') AS id, columns, reason FROM dated_quarantine ORDER BY id`,
      );
      if (caps.datesEndIn2105) {
        const v = caps.version;
        expect(result).toMatchObject({ successful_rows: 1, quarantined_rows: 3 });
        expect(rows).toEqual([{ id: 'a', day: '2105-12-31', at: '4291747199' }]);
        const dateRange = `is out of range for Date on ClickHouse ${v} (1970-01-01 to 2105-12-31)`;
        const timeRange = `is out of range for DateTime on ClickHouse ${v} (1970-01-01 00:00:00 to 2105-12-31 23:59:59 UTC)`;
        expect(refused).toEqual([
          { id: 'b', columns: ['day'], reason: `day: string "2149-06-06" ${dateRange}` },
          { id: 'c', columns: ['at'], reason: `at: string "2106-02-07 06:28:15" ${timeRange}` },
          {
            id: 'd',
            columns: ['day', 'at'],
            reason: `day: string "2106-01-01" ${dateRange}\nat: number 4291747200 ${timeRange}`,
          },
        ]);
      } else {
        expect(result).toMatchObject({ successful_rows: 4, quarantined_rows: 0 });
        expect(rows).toEqual([
          { id: 'a', day: '2105-12-31', at: '4291747199' },
          { id: 'b', day: '2149-06-06', at: '1704067200' },
          { id: 'c', day: '2024-01-01', at: '4294967295' },
          { id: 'd', day: '2106-01-01', at: '4291747200' },
        ]);
        expect(refused).toEqual([]);
      }
    });

    it('LowCardinality(Nullable(String)): a missing field or null is stored as NULL', async () => {
      const events = [
        '{"id":"a"}',
        '{"id":"b","city":null}',
        '{"id":"c","city":"Oslo","floor":3,"day":"2024-05-01"}',
      ];
      const result = await withIngestion((i) => i.append('visits', events, { requestId: 'visits-1' }));
      expect(result).toMatchObject({ successful_rows: 3, quarantined_rows: 0 });
      const rows = await ctx.engine.rows<{ id: string; name: string; missing: number }>(
        `SELECT id, toString(ifNull(city, '')) AS name, toUInt8(isNull(city)) AS missing FROM visits ORDER BY id`,
      );
      expect(rows).toEqual([
        { id: 'a', name: '', missing: 1 },
        { id: 'b', name: '', missing: 1 },
        { id: 'c', name: 'Oslo', missing: 0 },
      ]);
      const refused = await ctx.engine.rows(`SELECT reason FROM visits_quarantine`);
      expect(refused).toEqual([]);
      // LowCardinality of a number and of a date (chDB refuses them without a setting Tally sets).
      const c = await ctx.engine.rows<{ floor: number; day: string }>(
        `SELECT toUInt32(floor) AS floor, toString(day) AS day FROM visits WHERE id = 'c'`,
      );
      expect(c).toEqual([{ floor: 3, day: '2024-05-01' }]);
    });

    it('a named Tuple computed by default_expr for some rows of a flush is stored', async () => {
      const events = ['{"id":"a","point":{"a":7,"b":"x"}}', '{"id":"b"}', '{"id":"c","point":[9,null]}'];
      const result = await withIngestion((i) => i.append('shapes', events, { requestId: 'shapes-1' }));
      expect(result).toMatchObject({ successful_rows: 3, quarantined_rows: 0 });
      const rows = await ctx.engine.rows<{ id: string; a: number; b: string; none: number }>(
        `SELECT id, tupleElement(point, 1) AS a, toString(ifNull(tupleElement(point, 2), '')) AS b,
              toUInt8(isNull(tupleElement(point, 2))) AS none
       FROM shapes ORDER BY id`,
      );
      expect(rows).toEqual([
        { id: 'a', a: 7, b: 'x', none: 0 },
        { id: 'b', a: 0, b: '', none: 1 },
        { id: 'c', a: 9, b: '', none: 1 },
      ]);
      const refused = await ctx.engine.rows(`SELECT reason FROM shapes_quarantine`);
      expect(refused).toEqual([]);
    });
  },
);
