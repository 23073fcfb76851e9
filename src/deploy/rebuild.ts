/**
 * rebuild-table: a table ClickHouse cannot ALTER into shape (engine, keys, an incompatible type)
 * is rebuilt next to the live one without stopping writers for long:
 *
 * 1. create `<t>__tally_next` as the project wants it;
 * 2. hold `t` (and what feeds it), snapshot its rows, attach a copy view `<t>__tally_copy`
 *    that sends every new insert into the next table too, release;
 * 3. copy the snapshot into the next table (CAST where a type changed);
 * 4. hold again, drop the copy view, swap: `t` becomes `<t>__backup_<deploy>`, the next table
 *    becomes `t`; views reading `t` are re-attached to it; release.
 *
 * Rows are copied once: the ones there at step 2 from the snapshot, later ones by the copy view,
 * and after step 4 they land in the new table itself.
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { CONVERSION_CODES, EngineError } from '../clickhouse/engine-error.ts';
import { TallyError } from '../errors.ts';
import type { ApplyContext } from './apply-context.ts';
import { attachSql } from './attach.ts';
import { fillFromSnapshot, prepareSnapshots, type Snapshot, takeSnapshot } from './backfill.ts';
import { createTableSql, type DdlContext, dropTableSql, qualified } from './ddl.ts';
import { feedingClosure } from './hold.ts';
import { introspect, type LiveTable, viewGraph } from './introspect.ts';
import { copyViewName, holdName, nextName } from './names.ts';
import type { Step } from './plan-types.ts';
import { norm } from './table-diff.ts';
import type { TableSpec } from './table-spec.ts';
import { swapIn, withHold } from './view-steps.ts';

export async function rebuildTable(ac: ApplyContext, step: Step): Promise<void> {
  const { engine, ctx } = ac;
  const spec = step.tables![0]!;
  const table = spec.name;
  const next = nextName(table);
  const copyView = copyViewName(table);
  let live = await introspect(engine);
  const current = live.tables.get(table);
  if (!current) throw new Error(`table ${table} disappeared before its rebuild`);

  const { kept, select, converted } = copyColumns(spec, current);
  const outColumns = kept.map((c) => ({ name: c.name, type: c.type }));
  const converting = (err: unknown) => conversionError(table, converted, err);

  await engine.command(dropTableSql(copyView, ctx));
  await engine.command(dropTableSql(next, ctx));
  await engine.command(createTableSql(spec, ctx, next));
  await trialConversion(engine, ctx, table, select, converted);
  const pre = await prepareSnapshots(engine, ctx, [table]);
  let snapshot: Snapshot | undefined;
  await withHold(ac, step, feedingClosure(live, [table]), async () => {
    snapshot = await takeSnapshot(engine, ctx, pre.get(table)!, holdName(table));
    await engine.command(
      attachSql(copyView, next, outColumns, select(qualified(ctx, table)), ctx, ac.atomic),
    );
  });
  await fillFromSnapshot(
    engine,
    snapshot!,
    qualified(ctx, next),
    kept.map((c) => c.name),
    select(snapshot!.readAs),
    {
      label: table,
      ...(ac.chunkRows ? { chunkRows: ac.chunkRows } : {}),
      onProgress: (progress) => ac.emit({ type: 'backfill', step, progress }),
    },
  ).catch((err) => {
    throw converted.length > 0 ? converting(err) : err;
  });

  live = await viewGraph(engine);
  await withHold(ac, step, feedingClosure(live, [table]), async (hold) => {
    await engine.command(dropTableSql(copyView, ctx));
    const withoutCopy = { ...live, tables: new Map([...live.tables].filter(([name]) => name !== copyView)) };
    const t = withoutCopy.tables.get(table);
    if (t) withoutCopy.tables.set(table, { ...t, dependents: t.dependents.filter((d) => d !== copyView) });
    await swapIn(ac, withoutCopy, table, hold);
  });
}

/**
 * A conversion ClickHouse cannot compile fails here, before anything is held or swapped; one
 * that compiles but meets a value it cannot convert ('deposit' to UInt64) is tried on the first
 * rows too: once the copy view is attached, such a value would fail live inserts. Reads only
 * (`tally deploy --check` runs it too).
 */
export async function trialConversion(
  engine: Engine,
  ctx: DdlContext,
  table: string,
  select: (from: string) => string,
  converted: ReadonlyArray<{ name: string; from: string; to: string }>,
): Promise<void> {
  const converting = (err: unknown) => conversionError(table, converted, err);
  await engine.query(`${select(qualified(ctx, table))} LIMIT 0`).catch((err: unknown) => {
    throw converting(err);
  });
  if (converted.length > 0) {
    await engine
      .query(`SELECT count() FROM (${select(qualified(ctx, table))} LIMIT ${TRIAL_ROWS}) WHERE NOT ignore(*)`)
      .catch((err) => {
        throw converting(err);
      });
  }
}

/** Rows a rebuild converts before it holds anything: enough to meet a typical bad value. */
const TRIAL_ROWS = 1_000_000;

/** A failed conversion named by data source and columns (exit 1: the project asks for it). */
function conversionError(
  table: string,
  converted: ReadonlyArray<{ name: string; from: string; to: string }>,
  err: unknown,
): unknown {
  if (!(err instanceof EngineError)) return err;
  const code = err.clickhouseCode;
  if (!(code !== undefined && CONVERSION_CODES.has(code)) && !/CAST|convert|parse/i.test(err.message))
    return err;
  const what = converted.map((c) => `${c.name}: ${c.from} -> ${c.to}`).join(', ');
  return new TallyError(
    'conversion-failed',
    `data source ${table}: its rows do not convert to the new column types (${what}): ${err.message}`,
    {
      exitCode: 1,
      cause: err,
      hint: 'keep the old type, or pick a type every stored value converts to; nothing was swapped',
    },
  );
}

/** The columns both tables have, and the SELECT that reads them from the old table, converted to the new type where it changed. */
export function copyColumns(
  spec: TableSpec,
  current: LiveTable,
): {
  kept: TableSpec['columns'];
  select: (from: string) => string;
  converted: Array<{ name: string; from: string; to: string }>;
} {
  const liveTypes = new Map(current.columns.map((c) => [c.name, c.type]));
  const kept = spec.columns.filter((c) => liveTypes.has(c.name));
  const converted = kept
    .filter((c) => norm(liveTypes.get(c.name)!) !== norm(c.type))
    .map((c) => ({ name: c.name, from: liveTypes.get(c.name)!, to: c.type }));
  const select = (from: string) =>
    `SELECT ${kept
      .map((c) =>
        norm(liveTypes.get(c.name)!) === norm(c.type)
          ? quoteIdent(c.name)
          : `CAST(${quoteIdent(c.name)} AS ${c.type}) AS ${quoteIdent(c.name)}`,
      )
      .join(', ')} FROM ${from}`;
  return { kept, select, converted };
}
