/**
 * DateTime64, IPv4, IPv6, Tuple (plain and named) and Map columns, end to end: on a server that
 * lacks a type (18.16 has none of DateTime64, IPv4, IPv6, Map) deploy refuses it with the column
 * and its file:line; where the engine has them, events through the events path land with exact
 * values, and bad values are quarantined with the column and the reason while good rows land.
 */
import { afterAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import type { TallyError } from '../../src/errors.ts';
import { startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

function project(): string {
  return writeProject({
    'tally.yaml': 'name: more-types\n',
    'datasources/typed.datasource.yaml': [
      'columns:',
      '  - { name: id, type: String, json: $.id }',
      '  - { name: at, type: "DateTime64(3)", json: $.at }',
      '  - { name: ip, type: IPv4, json: $.ip }',
      '  - { name: ip6, type: IPv6, json: $.ip6 }',
      '  - { name: pair, type: "Tuple(String, UInt8)", json: $.pair }',
      '  - { name: person, type: "Tuple(name String, age UInt8)", json: $.person }',
      '  - { name: attrs, type: "Map(String, UInt32)", json: $.attrs }',
      'engine: { sorting_key: [id] }',
    ].join('\n'),
  });
}

afterAll(() => removeProjects());

forEachBackend('more column types', (ctx) => {
  it('deploys and ingests where the engine has the types, or refuses naming the column and line', async () => {
    const p = loadProjectOrThrow(project(), { env: {} });
    if (!ctx.engine.capabilities.map) {
      // 18.16: the first column whose type the server lacks, with where it is declared, before
      // any DDL.
      const refused = await applyDeploy(p, ctx.engine).then(
        () => undefined,
        (err: unknown) => err as TallyError,
      );
      expect(refused?.code).toBe('unsupported-on-server');
      expect(refused?.message).toBe(
        `column \`at\` of data source \`typed\` is DateTime64(3): ClickHouse ${ctx.engine.capabilities.version} has no type DateTime64 (it came in 20.1)`,
      );
      expect(refused?.location).toMatchObject({ line: 3 });
      expect(refused?.location?.file).toMatch(/typed\.datasource\.yaml$/);
      const tables = await ctx.engine.rows(
        `SELECT name FROM system.tables WHERE database = '${ctx.database}' AND name = 'typed'`,
      );
      expect(tables).toEqual([]);
      return;
    }
    const deployed = await applyDeploy(p, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    const ingestion = await startIngestion(p, ctx.engine, undefined, { consume: false });
    try {
      const good = [
        '{"id":"a","at":"2024-03-13 09:17:28.125","ip":"10.0.0.1","ip6":"2001:db8::1","pair":["x",7],"person":{"name":"Ann","age":41},"attrs":{"k":1,"l":2}}',
        '{"id":"b","at":1710321448250,"ip":"192.168.1.255","ip6":"1.2.3.4","pair":["y",0],"person":["Bo",9],"attrs":{}}',
      ];
      const bad = [
        '{"id":"c","at":"2024-03-13 09:17:28.1255","ip":"10.0.0.1","ip6":"::1","pair":["x",1],"person":{"name":"C","age":1},"attrs":{}}',
        '{"id":"d","at":"2024-03-13 09:17:28","ip":"300.0.0.1","ip6":"::1","pair":["x",1],"person":{"name":"D","age":1},"attrs":{}}',
        '{"id":"e","at":"2024-03-13 09:17:28","ip":"10.0.0.1","ip6":"::1","pair":["x",1],"person":{"name":"E"},"attrs":{}}',
        '{"id":"f","at":"2024-03-13 09:17:28","ip":"10.0.0.1","ip6":"::1","pair":["x",1],"person":{"name":"F","age":1},"attrs":{"k":-1}}',
      ];
      const result = await ingestion.append('typed', [...good, ...bad], { requestId: 'types-1' });
      expect(result).toMatchObject({ successful_rows: 2, quarantined_rows: 4 });
      const rows = await ctx.engine.rows(
        `SELECT id, toString(at) AS at, toString(ip) AS ip, toString(ip6) AS ip6, toString(pair) AS pair,
                tupleElement(person, 'name') AS name, tupleElement(person, 'age') AS age, toString(attrs) AS attrs
         FROM typed ORDER BY id`,
      );
      expect(rows).toEqual([
        {
          id: 'a',
          at: '2024-03-13 09:17:28.125',
          ip: '10.0.0.1',
          ip6: '2001:db8::1',
          pair: "('x',7)",
          name: 'Ann',
          age: 41,
          attrs: "{'k':1,'l':2}",
        },
        {
          id: 'b',
          at: '2024-03-13 09:17:28.250',
          ip: '192.168.1.255',
          ip6: '::ffff:1.2.3.4',
          pair: "('y',0)",
          name: 'Bo',
          age: 9,
          attrs: '{}',
        },
      ]);
      const refused = await ctx.engine.rows<{ id: string; columns: string[]; reason: string }>(
        `SELECT JSONExtractString(raw, 'id') AS id, columns, reason FROM typed_quarantine ORDER BY id`,
      );
      expect(refused).toEqual([
        {
          id: 'c',
          columns: ['at'],
          reason: 'at: DateTime64(3) keeps 3 digits after the second, got string "2024-03-13 09:17:28.1255"',
        },
        {
          id: 'd',
          columns: ['ip'],
          reason: 'ip: expected an IPv4 address (a.b.c.d), got string "300.0.0.1"',
        },
        { id: 'e', columns: ['person'], reason: 'person: age: missing, and UInt8 is not Nullable' },
        {
          id: 'f',
          columns: ['attrs'],
          reason: 'attrs: key "k": expected an integer from 0 to 4294967295 (UInt32), got number -1',
        },
      ]);
    } finally {
      await ingestion.stop();
    }
  });
});
