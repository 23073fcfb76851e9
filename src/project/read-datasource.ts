import { isMap, type Node } from 'yaml';
import type { Problem } from '../errors.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import type { YamlFile } from '../yaml/yaml-file.ts';
import { type MapView, YamlReader } from '../yaml/yaml-reader.ts';
import { checkDedupKey } from './check-dedup-key.ts';
import { checkValue, defaultExpression } from './check-value.ts';
import type {
  Column,
  DataSource,
  EngineType,
  KafkaMetadataColumn,
  KafkaSource,
  TableEngine,
  TypeNode,
} from './model.ts';
import { parseType } from './parse-type.ts';
import { readJsonPath } from './read-json-path.ts';
import { readVersions } from './read-versions.ts';
import { fileLoc, IDENTIFIER, type Located, locInScalar, settingsMap, stringItems } from './yaml-values.ts';

/** The Kafka metadata a data source can store, and the column type each gets. */
export const KAFKA_METADATA_TYPES: Readonly<Record<KafkaMetadataColumn, string>> = {
  __topic: 'String',
  __partition: 'Int32',
  __offset: 'Int64',
  __timestamp: 'DateTime',
  __key: 'String',
  __headers: 'String',
};

export const ENGINE_TYPES: readonly EngineType[] = [
  'MergeTree',
  'ReplacingMergeTree',
  'AggregatingMergeTree',
  'SummingMergeTree',
];

const TOP_KEYS = ['description', 'source', 'columns', 'engine', 'dedup_key', 'versions'];
const SOURCE_KEYS = ['kafka'];
const KAFKA_KEYS = ['topic', 'group', 'start', 'metadata'];
/** A name Kafka takes for a topic (`.` and `..` alone are refused by Kafka too). */
const KAFKA_TOPIC = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,249}$/;
const COLUMN_KEYS = ['name', 'type', 'json', 'default', 'default_expr', 'comment'];
const ENGINE_KEYS = [
  'type',
  'version',
  'sum_columns',
  'sorting_key',
  'primary_key',
  'partition_key',
  'sharding_key',
  'ttl',
  'settings',
];
const VERSION_TYPES = new Set([
  'UInt8',
  'UInt16',
  'UInt32',
  'UInt64',
  'Date',
  'Date32',
  'DateTime',
  'DateTime64',
]);

/**
 * Reads one `datasources/<name>.datasource.yaml`. Every problem goes to `problems`; the result is
 * as complete as the file allows (so cross-file checks still see the data source), or undefined
 * when the file is not a mapping at all.
 */
export function readDatasource(yf: YamlFile, name: string, problems: Problem[]): DataSource | undefined {
  const r = new YamlReader(yf, problems);
  const top = r.map(yf.root, `data source \`${name}\``, TOP_KEYS);
  if (!top) return undefined;

  const ds: DataSource = {
    kind: 'datasource',
    name,
    file: yf.file,
    loc: fileLoc(yf.file),
    columns: [],
    engine: { type: 'MergeTree', sortingKey: [], settings: {} },
  };
  if (top.has('description')) {
    const d = r.string(top.get('description'), 'description');
    if (d !== undefined) ds.description = d;
  }

  // Columns whose own definition is wrong: already reported, so not "unknown" elsewhere.
  const brokenColumns = new Set<string>();
  const columns = readColumns(r, top, brokenColumns);
  if (top.has('source')) {
    const kafka = readSource(r, top.get('source'));
    if (kafka) {
      ds.kafka = kafka.source;
      for (const m of kafka.metadata) {
        if (columns.some((c) => c.name === m.value)) {
          r.error(
            m.node,
            'duplicate-column',
            `kafka metadata \`${m.value}\` clashes with a column of the same name`,
          );
          continue;
        }
        const type = parseType(KAFKA_METADATA_TYPES[m.value]);
        if (type.ok) columns.push({ name: m.value, type: type.type, loc: r.loc(m.node) });
      }
    }
  }
  ds.columns = columns;

  const columnNames = columns.map((c) => c.name);
  const checkColumn = (item: Located<string>, what: string) => {
    if (IDENTIFIER.test(item.value) && !columnNames.includes(item.value) && !brokenColumns.has(item.value)) {
      r.error(
        item.node,
        'unknown-column',
        `${what} names unknown column \`${item.value}\`${didYouMean(item.value, columnNames)}`,
        columnNames.length > 0 ? `columns: ${columnNames.join(', ')}` : undefined,
      );
      return false;
    }
    return true;
  };

  const engineNode = top.require('engine');
  if (engineNode !== undefined) {
    const engine = readEngine(r, engineNode, columns, checkColumn);
    if (engine) ds.engine = engine;
  }

  if (top.has('dedup_key')) {
    const items = stringItems(r, top.get('dedup_key'), 'dedup_key');
    if (items?.length === 0) {
      // An empty list would silently turn dedup off.
      r.error(
        top.get('dedup_key'),
        'invalid-value',
        'dedup_key is empty: name the column(s) that identify an event, or remove the key',
      );
    }
    if (items) {
      const seen = new Set<string>();
      for (const item of items) {
        if (!IDENTIFIER.test(item.value)) {
          r.error(item.node, 'invalid-value', `dedup_key lists column names; \`${item.value}\` is not one`);
        } else if (seen.has(item.value)) {
          r.error(item.node, 'invalid-value', `dedup_key names \`${item.value}\` twice`);
        } else checkColumn(item, 'dedup_key');
        seen.add(item.value);
      }
      if (items.length > 0) ds.dedupKey = items.map((i) => i.value);
    }
  }
  // Key columns ingestion could not make a key of: refused now, as ingestion would refuse them.
  checkDedupKey(ds, problems, top.has('dedup_key') ? r.loc(top.get('dedup_key')) : undefined);
  if (top.has('versions')) {
    const versions = readVersions(r, top.get('versions'), columns, brokenColumns);
    if (versions) ds.versions = versions;
  }
  return ds;
}

function readColumns(r: YamlReader, top: MapView, broken: Set<string>): Column[] {
  const out: Column[] = [];
  const node = top.require('columns');
  if (node === undefined) return out;
  const items = r.list(node, '`columns`');
  if (!items) return out;
  if (items.length === 0) r.error(node, 'invalid-value', 'a data source needs at least one column');
  const seen = new Map<string, number>();
  for (const item of items) {
    const c = readColumn(r, item);
    if (!c) {
      const name = isMap(item) ? r.plain(item.get('name', true) as Node | undefined) : undefined;
      if (typeof name === 'string') broken.add(name);
      continue;
    }
    const first = seen.get(c.name);
    if (first !== undefined) {
      r.error(item, 'duplicate-column', `column \`${c.name}\` is defined twice (first on line ${first})`);
      continue;
    }
    seen.set(c.name, c.loc.line);
    out.push(c);
  }
  return out;
}

function readColumn(r: YamlReader, item: Node): Column | undefined {
  const m = r.map(item, 'column', COLUMN_KEYS);
  if (!m) return undefined;
  const nameNode = m.require('name');
  const name = nameNode === undefined ? undefined : r.string(nameNode, 'column `name`');
  if (name !== undefined && !IDENTIFIER.test(name)) {
    r.error(
      nameNode,
      'invalid-name',
      `column name \`${name}\` must be letters, digits and underscores, not starting with a digit`,
    );
  }
  const typeNode = m.require('type', name === undefined ? 'column' : `column \`${name}\``);
  const typeText =
    typeNode === undefined ? undefined : r.string(typeNode, `type of column \`${name ?? '?'}\``);
  let type: TypeNode | undefined;
  if (typeText !== undefined && typeNode) {
    const parsed = parseType(typeText);
    if (parsed.ok) type = parsed.type;
    else reportTypeError(r, typeNode, parsed);
  }
  if (name === undefined || !IDENTIFIER.test(name) || !type) {
    // Still look at the other keys so all their problems are reported.
    if (m.has('json')) readJsonPath(r, m.get('json'), undefined);
    return undefined;
  }

  const col: Column = { name, type, loc: r.loc(item) };
  if (m.has('json')) {
    const json = readJsonPath(r, m.get('json'), type);
    if (json) col.json = json;
  }
  if (m.has('default') && m.has('default_expr')) {
    r.error(
      m.keyNode('default_expr'),
      'invalid-value',
      'use `default` (a value) or `default_expr` (a ClickHouse expression), not both',
    );
  } else if (m.has('default')) {
    const node = m.get('default');
    const checked = checkValue(type, r.plain(node), { strictStrings: true });
    if (checked.ok) {
      col.default = defaultExpression(type, checked.value);
      col.defaultValue = checked.value;
    } else {
      r.error(
        node,
        'invalid-default',
        `default of column \`${name}\`: ${checked.message}`,
        checked.hint ?? 'for a computed default write default_expr, e.g. default_expr: now()',
      );
    }
  } else if (m.has('default_expr')) {
    const e = r.string(m.get('default_expr'), 'default_expr');
    if (e !== undefined) col.default = e;
  }
  if (m.has('comment')) {
    const c = r.string(m.get('comment'), 'comment');
    if (c !== undefined) col.comment = c;
  }
  // Aggregate states cannot come from an event: such columns are filled by materialized pipes.
  if (!m.has('json') && !m.has('default') && !m.has('default_expr') && type.name !== 'AggregateFunction') {
    col.json = { text: `$.${name}`, segments: [name] };
  }
  return col;
}

export function reportTypeError(
  r: YamlReader,
  node: Node,
  err: { message: string; offset: number; hint?: string },
): void {
  r.problems.push({
    severity: 'error',
    code: err.message.startsWith('unknown ClickHouse type') ? 'unknown-type' : 'invalid-type',
    message: err.message,
    location: locInScalar(r.file, node, err.offset),
    ...(err.hint ? { hint: err.hint } : {}),
  });
}

function readSource(
  r: YamlReader,
  node: Node | null | undefined,
): { source: KafkaSource; metadata: Located<KafkaMetadataColumn>[] } | undefined {
  const m = r.map(node, '`source`', SOURCE_KEYS);
  if (!m?.has('kafka')) return undefined;
  const kafkaNode = m.get('kafka');
  const k = r.map(kafkaNode, '`source.kafka`', KAFKA_KEYS);
  if (!k) return undefined;
  // A missing topic is reported once, by require.
  const topicNode = k.require('topic');
  const topic = topicNode === undefined ? undefined : r.string(topicNode, 'kafka topic');
  if (topic === '') r.error(k.get('topic'), 'invalid-value', 'kafka topic is empty');
  else if (topic !== undefined && !KAFKA_TOPIC.test(topic)) {
    // Kafka's own rule: the broker would refuse the name, and ingestion would only retry.
    r.error(
      k.get('topic'),
      'invalid-value',
      `kafka topic \`${topic}\` is not a Kafka topic name: letters, digits, \`.\`, \`_\` and \`-\`, at most 249 characters`,
    );
  }
  const source: KafkaSource = { topic: topic ?? '', start: 'earliest', metadata: [], loc: r.loc(kafkaNode) };
  if (k.has('group')) {
    const g = r.string(k.get('group'), 'kafka group');
    if (g) source.group = g;
  }
  if (k.has('start')) {
    const s = r.string(k.get('start'), 'kafka start');
    if (s === 'earliest' || s === 'latest') source.start = s;
    else if (s !== undefined) {
      r.error(
        k.get('start'),
        'invalid-value',
        `kafka start must be earliest or latest, not \`${s}\`${didYouMean(s, ['earliest', 'latest'])}`,
      );
    }
  }
  const metadata: Located<KafkaMetadataColumn>[] = [];
  if (k.has('metadata')) {
    const allowed = Object.keys(KAFKA_METADATA_TYPES);
    for (const item of stringItems(r, k.get('metadata'), 'kafka metadata') ?? []) {
      if (!allowed.includes(item.value)) {
        r.error(
          item.node,
          'invalid-value',
          `unknown kafka metadata \`${item.value}\`${didYouMean(item.value, allowed)}`,
          `choose from ${allowed.join(', ')}`,
        );
      } else if (metadata.some((x) => x.value === item.value)) {
        r.error(item.node, 'invalid-value', `kafka metadata \`${item.value}\` is listed twice`);
      } else {
        metadata.push(item as Located<KafkaMetadataColumn>);
      }
    }
  }
  source.metadata = metadata.map((x) => x.value);
  if (topic === undefined) return undefined;
  return { source, metadata };
}

function readEngine(
  r: YamlReader,
  node: Node | null,
  columns: readonly Column[],
  checkColumn: (item: Located<string>, what: string) => boolean,
): TableEngine | undefined {
  const m = r.map(node, '`engine`', ENGINE_KEYS);
  if (!m) return undefined;
  let type: EngineType = 'MergeTree';
  // A mistyped type is reported once: keys of the engine meant are not also "for another engine".
  let typeKnown = true;
  if (m.has('type')) {
    const t = r.string(m.get('type'), 'engine type');
    if (t !== undefined && (ENGINE_TYPES as readonly string[]).includes(t)) type = t as EngineType;
    else if (t !== undefined) {
      typeKnown = false;
      r.error(
        m.get('type'),
        'unknown-engine',
        `unknown engine \`${t}\`${didYouMean(t, ENGINE_TYPES)}`,
        `choose from ${ENGINE_TYPES.join(', ')}`,
      );
    }
  }
  const engine: TableEngine = { type, sortingKey: [], settings: {} };
  const onlyFor = (key: string, want: EngineType) => {
    if (m.has(key) && type !== want && !typeKnown) return false;
    if (m.has(key) && type !== want) {
      r.error(
        m.keyNode(key),
        'engine-key-mismatch',
        `\`${key}\` applies only to ${want}, and this engine is ${type}`,
        `set type: ${want}, or remove ${key}`,
      );
      return false;
    }
    return m.has(key);
  };

  if (onlyFor('version', 'ReplacingMergeTree')) {
    const v = r.string(m.get('version'), 'engine version');
    if (v !== undefined && !IDENTIFIER.test(v)) {
      r.error(m.get('version'), 'invalid-value', `version names a column; \`${v}\` is not a column name`);
    } else if (v !== undefined && checkColumn({ value: v, node: m.get('version')! }, 'version')) {
      const col = columns.find((c) => c.name === v);
      if (col && !VERSION_TYPES.has(col.type.name)) {
        r.error(
          m.get('version'),
          'invalid-value',
          `the version column must be an unsigned integer, Date or DateTime; \`${v}\` is ${col.type.text}`,
        );
      } else engine.version = v;
    }
  }
  if (onlyFor('sum_columns', 'SummingMergeTree')) {
    const items = stringItems(r, m.get('sum_columns'), 'sum_columns');
    if (items) {
      for (const i of items) checkColumn(i, 'sum_columns');
      engine.sumColumns = items.map((i) => i.value);
    }
  }

  const sorting = m.require('sorting_key');
  if (sorting !== undefined) {
    const items = stringItems(r, sorting, 'sorting_key') ?? [];
    if (items.length === 0 && sorting) {
      r.error(
        sorting,
        'invalid-value',
        'sorting_key needs at least one column or expression',
        'write tuple() for no sorting',
      );
    }
    for (const i of items) checkColumn(i, 'sorting_key');
    engine.sortingKey = items.map((i) => i.value);
  }
  if (m.has('primary_key')) {
    const items = stringItems(r, m.get('primary_key'), 'primary_key') ?? [];
    for (const i of items) checkColumn(i, 'primary_key');
    const prefix = items.every((i, k) => engine.sortingKey[k] === i.value);
    if (!prefix && items.length > 0) {
      r.error(
        m.get('primary_key'),
        'invalid-value',
        'primary_key must be a prefix of sorting_key',
        `sorting_key is [${engine.sortingKey.join(', ')}]`,
      );
    }
    engine.primaryKey = items.map((i) => i.value);
  }
  if (m.has('partition_key')) {
    const p = r.string(m.get('partition_key'), 'partition_key');
    if (p !== undefined) {
      checkColumn({ value: p, node: m.get('partition_key')! }, 'partition_key');
      engine.partitionKey = p;
    }
  }
  if (m.has('sharding_key')) {
    const items = stringItems(r, m.get('sharding_key'), 'sharding_key') ?? [];
    if (items.length === 0)
      r.error(m.get('sharding_key'), 'invalid-value', 'sharding_key needs at least one column');
    for (const i of items) {
      if (!IDENTIFIER.test(i.value))
        r.error(i.node, 'invalid-value', `sharding_key names columns; \`${i.value}\` is not a column name`);
      else checkColumn(i, 'sharding_key');
    }
    engine.shardingKey = items.map((i) => i.value);
  }
  if (m.has('ttl')) {
    const t = r.string(m.get('ttl'), 'ttl');
    if (t !== undefined) {
      engine.ttl = t;
      engine.ttlLoc = r.loc(m.get('ttl'));
    }
  }
  if (m.has('settings')) engine.settings = settingsMap(r, m.get('settings'), '`engine.settings`').values;
  return engine;
}
