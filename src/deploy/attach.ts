/**
 * Attaching materialized views by name while their source is held under another name, and the
 * checks that CREATE would have made (ATTACH does not analyze the SELECT).
 */
import { randomUUID } from 'node:crypto';
import type { Engine } from '../clickhouse/engine.ts';
import { engineMessage } from '../clickhouse/engine-error.ts';
import { TallyError } from '../errors.ts';
import { locateEngineError } from '../sql/locate-engine-error.ts';
import { attachViewSql, type DdlContext, stringLiteral, type ViewSpec } from './ddl.ts';

export interface OutputColumn {
  name: string;
  type: string;
}

/**
 * Runs the view's SELECT with LIMIT 0: it must compile, and every column it produces must be a
 * column of `into`, the live table it will write into (the target, or the new table a recompute
 * or a replay fills), with the same aggregate state type (a materialized view inserts by name;
 * an unknown name or another state type is an error on insert, long after deploy said yes).
 */
export async function validateView(engine: Engine, view: ViewSpec, into: string): Promise<OutputColumn[]> {
  const stored = await engine.rows<{ name: string; type: string }>(
    `SELECT name, type FROM system.columns WHERE database = ${stringLiteral(engine.database)} AND table = ${stringLiteral(into)}`,
  );
  const targetColumns = stored.map((c) => c.name);
  let meta: OutputColumn[];
  try {
    meta = (await engine.query(`SELECT * FROM (${view.query}) LIMIT 0`)).meta;
  } catch (err) {
    // Located in the pipe file; ClickHouse's first line without its list of what a parser
    // expected (dozens of words) and without the `LIMIT 0` wrapper it quotes.
    const location = view.nodes ? locateEngineError(view.nodes, err) : undefined;
    const said = engineMessage(err)
      .replace(/\.?\s*Expected one of:.*$/s, '')
      .replace(/\s*\(line \d+, col \d+\)/, '')
      .replace(/:\s*\)\s*LIMIT 0\s*$/, '')
      // A position in the wrapped query means nothing in the file: the token it names does.
      .replace(/:? ?failed at position \d+(?: \((.+)\))?/, (_m, token?: string) =>
        token ? ` near \`${token}\`` : '',
      );
    throw new TallyError(
      'invalid-view',
      `the SQL of materialized pipe ${view.pipe}${view.file && !location ? ` (${view.file})` : ''} does not run: ${said}`,
      {
        cause: err,
        ...(location ? { location } : {}),
        hint: `try it with \`tally sql\`; the view would write into ${view.target}`,
      },
    );
  }
  const have = new Set(targetColumns);
  const unknown = meta.filter((c) => !have.has(c.name)).map((c) => c.name);
  if (unknown.length > 0) {
    throw new TallyError(
      'invalid-view',
      `materialized pipe ${view.pipe} produces ${unknown.map((c) => `\`${c}\``).join(', ')}, which data source ${view.target} does not have`,
      { hint: `name the SELECT's columns after ${view.target}'s columns (${targetColumns.join(', ')})` },
    );
  }
  checkStateTypes(view, meta, new Map(stored.map((c) => [c.name, c.type])));
  return meta;
}

/**
 * An aggregate state is stored as it is: ClickHouse does not convert one state type into
 * another, so a view whose state differs from the target column's (18.16 drops the Nullable of
 * `argMaxState(nullable_column, ...)`, current servers keep it) would have every insert into
 * its source refused. Compared with the types of the table written, as ClickHouse prints them.
 */
export function checkStateTypes(
  view: ViewSpec,
  meta: readonly OutputColumn[],
  stored: ReadonlyMap<string, string>,
): void {
  const flat = (t: string) => t.replace(/\s+/g, '');
  for (const c of meta) {
    const want = stored.get(c.name);
    // A SimpleAggregateFunction column stores its plain type: ClickHouse converts into it as into any.
    if (want === undefined || !/^AggregateFunction\(/.test(want)) continue;
    if (flat(want) === flat(c.type)) continue;
    throw new TallyError(
      'invalid-view',
      `materialized pipe ${view.pipe} produces \`${c.name}\` as ${c.type}, but data source ${view.target} stores ${want}: ClickHouse would refuse every insert into the view's source`,
      {
        hint: `make the state's type match: change the column's type in ${view.target}, or the state's argument (e.g. ifNull(x, '') for a Nullable argument)`,
      },
    );
  }
}

/** ATTACH with the full definition (a fresh UUID where the database is Atomic). */
export function attachSql(
  name: string,
  target: string,
  columns: readonly OutputColumn[],
  query: string,
  ctx: DdlContext,
  atomic: boolean,
): string {
  return attachViewSql(name, target, columns, query, ctx, atomic ? randomUUID() : undefined);
}

/**
 * A live view's `create_table_query` turned into an ATTACH of the same view, to re-bind it by
 * name after its source was swapped (current servers bind a view to its source's UUID).
 */
export function reattachSql(createQuery: string, atomic: boolean): string {
  const ident = '(?:`(?:[^`\\\\]|\\\\.)*`|[A-Za-z0-9_]+)';
  const re = new RegExp(
    `^\\s*CREATE\\s+MATERIALIZED\\s+VIEW\\s+(${ident}(?:\\.${ident})?)\\s+(?:UUID\\s+'[^']*'\\s+)?`,
    'i',
  );
  const m = re.exec(createQuery);
  if (!m)
    throw new TallyError(
      'unexpected-view',
      `cannot read the definition of a materialized view: ${createQuery.slice(0, 120)}`,
      { exitCode: 2 },
    );
  return `ATTACH MATERIALIZED VIEW ${m[1]} ${atomic ? `UUID ${stringLiteral(randomUUID())} ` : ''}${createQuery.slice(m[0].length)}`;
}
