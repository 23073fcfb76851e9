/**
 * Builds Project models by hand for deploy tests: small data sources and materialized pipes
 * without YAML files, and variations of them (a column more, another sorting key).
 */
import type { Config } from '../../src/config/config.ts';
import type { SourceLocation } from '../../src/errors.ts';
import type { Column, DataSource, EngineType, Pipe, Project, TableEngine } from '../../src/project/model.ts';
import { parseTemplate } from '../../src/project/parse-template.ts';
import { parseType } from '../../src/project/parse-type.ts';
import { referencedNames } from '../../src/project/sql-references.ts';

const loc = (file: string): SourceLocation => ({ file, line: 1, col: 1 });

export interface ColumnInput {
  name: string;
  type: string;
  default?: string;
  comment?: string;
}

export interface DatasourceInput {
  columns: ColumnInput[];
  engine?: EngineType;
  sortingKey?: string[];
  partitionKey?: string;
  primaryKey?: string[];
  version?: string;
  ttl?: string;
  settings?: Record<string, string | number>;
  kafka?: boolean;
}

export function datasource(name: string, input: DatasourceInput): DataSource {
  const file = `datasources/${name}.datasource.yaml`;
  const columns: Column[] = input.columns.map((c) => {
    const t = parseType(c.type);
    if (!t.ok) throw new Error(`bad type ${c.type}`);
    return {
      name: c.name,
      type: t.type,
      ...(c.default !== undefined ? { default: c.default } : {}),
      ...(c.comment ? { comment: c.comment } : {}),
      loc: loc(file),
    };
  });
  const engine: TableEngine = {
    type: input.engine ?? 'MergeTree',
    sortingKey: input.sortingKey ?? [input.columns[0]!.name],
    settings: input.settings ?? {},
    ...(input.partitionKey ? { partitionKey: input.partitionKey } : {}),
    ...(input.primaryKey ? { primaryKey: input.primaryKey } : {}),
    ...(input.version ? { version: input.version } : {}),
    ...(input.ttl ? { ttl: input.ttl } : {}),
  };
  return {
    kind: 'datasource',
    name,
    file,
    loc: loc(file),
    columns,
    engine,
    ...(input.kafka ? { kafka: { topic: name, start: 'earliest', metadata: [], loc: loc(file) } } : {}),
  };
}

/** A pipe of one node per SQL text (later nodes read earlier ones by name `n0`, `n1`...). */
export function pipe(name: string, sqls: string | string[], materializeTo?: string): Pipe {
  const file = `pipes/${name}.pipe.yaml`;
  const list = Array.isArray(sqls) ? sqls : [sqls];
  return {
    kind: 'pipe',
    name,
    file,
    loc: loc(file),
    params: new Map(),
    nodes: list.map((sql, i) => ({
      name: `n${i}`,
      sql,
      template: parseTemplate(sql),
      sqlStart: loc(file),
      references: referencedNames(sql),
      loc: loc(file),
    })),
    ...(materializeTo ? { materialize: { to: materializeTo, loc: loc(file) } } : {}),
  };
}

export function project(
  parts: { datasources?: DataSource[]; pipes?: Pipe[] },
  opts: { database?: string; cluster?: string } = {},
): Project {
  const config: Config = {
    projectDir: '/nowhere',
    clickhouse: {
      user: 'default',
      password: '',
      database: opts.database ?? 'tally',
      embeddedPath: '/nowhere/.tally/chdb',
      ...(opts.cluster ? { cluster: opts.cluster } : {}),
    },
    kafka: { brokers: ['127.0.0.1:9092'], clientId: 'tally', ssl: false },
    server: { host: '127.0.0.1', port: 7070 },
    tokens: [],
    ingest: {},
  };
  return {
    root: '/nowhere',
    config,
    datasources: new Map((parts.datasources ?? []).map((d) => [d.name, d])),
    pipes: new Map((parts.pipes ?? []).map((p) => [p.name, p])),
    endpoints: new Map(),
  };
}

/** A copy of `p` with a data source replaced, added or removed (undefined). */
export function withDatasource(p: Project, name: string, ds: DataSource | undefined): Project {
  const datasources = new Map(p.datasources);
  if (ds) datasources.set(name, ds);
  else datasources.delete(name);
  return { ...p, datasources };
}

export function withPipe(p: Project, name: string, pp: Pipe | undefined): Project {
  const pipes = new Map(p.pipes);
  if (pp) pipes.set(name, pp);
  else pipes.delete(name);
  return { ...p, pipes };
}

/** The events/totals pair most deploy tests use. */
export function eventsProject(): Project {
  return project({
    datasources: [
      datasource('events', {
        columns: [
          { name: 'id', type: 'UInt64' },
          { name: 'account', type: 'String' },
          { name: 'amount', type: 'Decimal(18, 2)' },
          { name: 'ts', type: 'DateTime' },
        ],
        engine: 'MergeTree',
        sortingKey: ['account', 'id'],
        partitionKey: 'toYYYYMM(ts)',
      }),
      datasource('totals', {
        columns: [
          { name: 'account', type: 'String' },
          { name: 'total', type: 'AggregateFunction(sum, Decimal(18, 2))' },
          { name: 'n', type: 'AggregateFunction(count)' },
        ],
        engine: 'AggregatingMergeTree',
        sortingKey: ['account'],
      }),
    ],
    pipes: [
      pipe(
        'totals_mv',
        'SELECT account, sumState(amount) AS total, countState() AS n FROM events GROUP BY account',
        'totals',
      ),
    ],
  });
}
