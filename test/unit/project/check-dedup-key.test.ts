import { afterAll, describe, expect, it } from 'vitest';
import type { TallyError } from '../../../src/errors.ts';
import { compileRowParser } from '../../../src/ingest/row-parser.ts';
import { loadProject } from '../../../src/project/load-project.ts';
import type { DataSource } from '../../../src/project/model.ts';
import { removeProjects, writeProject } from './write-project.ts';

afterAll(removeProjects);

const FILE = 'datasources/events.datasource.yaml';

function load(columns: string, dedupKey: string) {
  const dir = writeProject({
    [FILE]: `columns:
  - { name: id, type: String }
${columns}
engine: { sorting_key: [id] }
dedup_key: ${dedupKey}
`,
  });
  return loadProject(dir, { env: {} });
}

/** What ingestion says about the same data source (the rule both use: src/ingest/dedup-key.ts). */
function ingestionRefusal(ds: DataSource): TallyError {
  try {
    compileRowParser(ds);
  } catch (err) {
    return err as TallyError;
  }
  throw new Error('ingestion accepted the data source');
}

describe('dedup_key columns ingestion cannot key on, when the project loads', () => {
  it('refuses a Float64 key column at its line, with the message ingestion gives', () => {
    const { project, problems } = load('  - { name: score, type: Float64 }', '[id, score]');
    expect(project).toBeUndefined();
    expect(problems).toEqual([
      {
        severity: 'error',
        code: 'invalid-dedup-key',
        message:
          'dedup_key column `score` of `events` has type Float64; a dedup key column must be String, an integer, Date, DateTime, UUID or Enum (not Nullable)',
        location: { file: FILE, line: 3, col: 5 },
      },
    ]);
  });

  it('refuses a key column filled by default_expr, at its line', () => {
    const { problems } = load('  - { name: day, type: Date, default_expr: today() }', 'day');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      code: 'invalid-dedup-key',
      message:
        'dedup_key column `day` of `events` is computed by default_expr; the key must come from the event',
      location: { file: FILE, line: 3, col: 5 },
    });
  });

  it('says what ingestion says, word for word and at the same place', () => {
    for (const [columns, key] of [
      ['  - { name: score, type: Float64 }', 'score'],
      ['  - { name: day, type: Date, default_expr: today() }', 'day'],
      ['  - { name: amount, type: "Decimal(18, 2)" }', 'amount'],
      ['  - { name: ref, type: Nullable(String) }', 'ref'],
    ] as const) {
      // The same file with the key left out loads; ingestion is then asked about the key.
      const base = load(columns, '[id]').project!.datasources.get('events')!;
      const ingest = ingestionRefusal({ ...base, dedupKey: [key] });
      const { problems } = load(columns, key);
      expect(problems.map((p) => [p.code, p.message, p.location])).toEqual([
        [ingest.code, ingest.message, ingest.location],
      ]);
    }
  });

  it('names every bad key column, not only the first', () => {
    const { problems } = load(
      ['  - { name: score, type: Float64 }', '  - { name: at, type: DateTime, default_expr: now() }'].join(
        '\n',
      ),
      '[score, id, at]',
    );
    expect(problems.map((p) => [p.code, p.location?.line, p.message.slice(0, 33)])).toEqual([
      ['invalid-dedup-key', 3, 'dedup_key column `score` of `even'],
      ['invalid-dedup-key', 4, 'dedup_key column `at` of `events`'],
    ]);
  });

  it('accepts the key types ingestion takes, and leaves an unknown column to its own problem', () => {
    const ok = load(
      [
        '  - { name: n, type: UInt64 }',
        '  - { name: at, type: DateTime }',
        '  - { name: u, type: UUID }',
        '  - { name: tag, type: LowCardinality(String), json: $.tag, default: x }',
      ].join('\n'),
      '[id, n, at, u, tag]',
    );
    expect(ok.problems).toEqual([]);
    const unknown = load('  - { name: n, type: UInt64 }', '[id, nn]');
    expect(unknown.problems.map((p) => p.code)).toEqual(['unknown-column']);
  });
});

describe('dedup_key of Kafka metadata', () => {
  it('warns that events not read from Kafka would share one key (and are refused), and still loads', () => {
    const dir = writeProject({
      [FILE]: `source:
  kafka: { topic: events, metadata: [__partition, __offset] }
columns:
  - { name: id, type: String }
engine: { sorting_key: [id] }
dedup_key: [__partition, __offset]
`,
    });
    const { project, problems } = loadProject(dir, { env: {} });
    expect(project?.datasources.get('events')?.dedupKey).toEqual(['__partition', '__offset']);
    expect(problems).toEqual([
      expect.objectContaining({
        severity: 'warning',
        code: 'dedup-kafka-metadata',
        message: expect.stringMatching(
          /^dedup_key of `events` uses Kafka metadata \(__partition, __offset\): events that do not come through Kafka/,
        ),
        location: { file: FILE, line: 6, col: 12 },
      }),
    ]);
  });
});
