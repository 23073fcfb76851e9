/**
 * The view steps, each built on the write hold (hold.ts) and the snapshot (backfill.ts):
 *
 * create-view  hold the source (and whatever feeds it), snapshot its rows, ATTACH the view by
 *              name, release. Every row is now either in the snapshot or fires the view.
 *              Embedded: close the in-process write gate and ATTACH; the backfill reads the
 *              source itself and reopens the gate (every writer of a chDB folder is in-process).
 * backfill     the view's SELECT over the snapshot, into the target.
 * replace-view a target recomputed by its views: build `<target>__tally_next` with shadow views
 *              attached the same way plus a backfill, then under a second hold drop the old
 *              views, swap the tables and attach the views to the swapped-in target.
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import { writeGate } from '../clickhouse/write-gate.ts';
import { TallyError } from '../errors.ts';
import { allSettledOrThrow } from '../util/all-settled.ts';
import type { ApplyContext } from './apply-context.ts';
import { attachSql, type OutputColumn, reattachSql, validateView } from './attach.ts';
import { fillFromSnapshot, prepareSnapshots, type Snapshot, takeSnapshot } from './backfill.ts';
import { createTableSql, dropTableSql, qualified, renameSql, stringLiteral, type ViewSpec } from './ddl.ts';
import { feedingClosure, type Hold, holdTables } from './hold.ts';
import { type LiveState, viewGraph } from './introspect.ts';
import { backupName, holdName, nextName, scratchDatabaseName, shadowViewName } from './names.ts';
import type { Step } from './plan-types.ts';
import type { TableSpec } from './table-spec.ts';
import { fillingView } from './view-query-error.ts';
import { querySourceSwapped } from './view-spec.ts';

export async function createView(ac: ApplyContext, step: Step): Promise<void> {
  const view = step.view!;
  const { engine, ctx } = ac;
  const validated = validateView(engine, view, view.target);
  if (ctx.embedded) {
    const columns = await validated;
    // Every writer is in this process and waits at the gate: the source's rows now are exactly
    // those the view will not see, until the backfill reopens it.
    const reopenGate = await writeGate(engine).exclusive();
    const gateClosedAt = performance.now();
    try {
      await engine.command(attachSql(view.name, view.target, columns, view.query, ctx, ac.atomic));
    } catch (err) {
      reopenGate();
      throw err;
    }
    ac.pending.set(view.name, { reopenGate, gateClosedAt, columns });
    return;
  }
  // A server answers these side by side: the step's fixed cost is what a small backfill pays.
  // All settle before a failure is thrown: nothing of this step may still run during recovery.
  const [columns, pre, live] = await allSettledOrThrow([
    validated,
    prepareSnapshots(engine, ctx, [view.source]),
    viewGraph(engine),
  ] as const);
  let snapshot: Snapshot | undefined;
  await withHold(ac, step, feedingClosure(live, [view.source]), async () => {
    // Independent of each other, so side by side: writers wait for the hold's whole length.
    [snapshot] = await allSettledOrThrow([
      takeSnapshot(engine, ctx, pre.get(view.source)!, holdName(view.source)),
      engine.command(attachSql(view.name, view.target, columns, view.query, ctx, ac.atomic)),
    ] as const);
  });
  ac.pending.set(view.name, { snapshot: snapshot!, columns });
}

export async function backfill(ac: ApplyContext, step: Step): Promise<void> {
  const view = step.view!;
  const pending = ac.pending.get(view.name);
  if (!pending)
    throw new TallyError(
      'internal',
      `backfill of ${view.name} has no snapshot: its create-view step did not run`,
      { exitCode: 2 },
    );
  try {
    if (pending.fill) await pending.fill();
    else if (pending.snapshot)
      await fill(ac, step, view, pending.snapshot, pending.columns, qualified(ac.ctx, view.target));
    else await fillUnderGate(ac, step, view, pending.columns);
  } finally {
    if (pending.reopenGate) {
      pending.reopenGate();
      const ms = performance.now() - (pending.gateClosedAt ?? performance.now());
      ac.emit({ type: 'hold', step, tables: [view.source], ms, database: true });
    }
    ac.pending.delete(view.name);
  }
}

/** The embedded backfill: the view's SELECT over the live source, which nothing writes meanwhile. */
async function fillUnderGate(ac: ApplyContext, step: Step, view: ViewSpec, columns: OutputColumn[]) {
  const { engine, ctx } = ac;
  const started = performance.now();
  const [r] = await engine.rows<{ n: number | string }>(
    `SELECT sum(rows) AS n FROM system.parts WHERE database = ${stringLiteral(ctx.database)} AND table = ${stringLiteral(view.source)} AND active`,
  );
  const total = Number(r?.n ?? 0);
  const progress = (done: number) =>
    ac.emit({
      type: 'backfill',
      step,
      progress: {
        label: view.name,
        rowsDone: done,
        rowsTotal: total,
        elapsedMs: performance.now() - started,
      },
    });
  progress(0);
  const cols = columns.map((c) => quoteIdent(c.name)).join(', ');
  await engine.command(`INSERT INTO ${qualified(ctx, view.target)} (${cols}) ${view.query}`);
  progress(total);
}

export async function replaceView(ac: ApplyContext, step: Step): Promise<void> {
  const { engine, ctx } = ac;
  const views = step.views!;
  const spec: TableSpec = step.targetSpec!;
  const target = spec.name;
  const next = nextName(target);
  // Build the new target: shadow views catch what arrives from now on, the snapshot what was there.
  // The views are checked against it (its types, not the old target's); a refusal leaves it to
  // recovery, which drops a half-built `__tally_next`.
  for (const v of views) await engine.command(dropTableSql(shadowViewName(v.name), ctx));
  await engine.command(dropTableSql(next, ctx));
  await engine.command(createTableSql(spec, ctx, next));
  const columns = new Map<string, OutputColumn[]>();
  for (const v of views) columns.set(v.name, await validateView(engine, v, next));
  const sources = [...new Set(views.map((v) => v.source))];
  const pre = await prepareSnapshots(engine, ctx, sources);
  const graph = await viewGraph(engine);
  const snapshots = new Map<string, Snapshot>();
  await withHold(ac, step, feedingClosure(graph, sources), async () => {
    for (const s of sources) snapshots.set(s, await takeSnapshot(engine, ctx, pre.get(s)!, holdName(s)));
    for (const v of views) {
      await engine.command(
        attachSql(shadowViewName(v.name), next, columns.get(v.name)!, v.query, ctx, ac.atomic),
      );
    }
  });
  for (const v of views)
    await fill(ac, step, v, snapshots.get(v.source)!, columns.get(v.name)!, qualified(ctx, next));

  // Swap it in with nothing arriving: the old views go, the views attach to the new table.
  const live = await viewGraph(engine);
  const holdSet = feedingClosure(live, [target, ...sources]);
  await withHold(ac, step, holdSet, async (hold) => {
    const writers = [...live.tables.values()].filter(
      (t) => t.engine === 'MaterializedView' && t.viewTarget === target,
    );
    for (const w of writers) await engine.command(dropTableSql(w.name, ctx));
    for (const v of views) await engine.command(dropTableSql(shadowViewName(v.name), ctx));
    await swapIn(ac, live, target, hold, async () => {
      for (const v of views)
        await engine.command(attachSql(v.name, target, columns.get(v.name)!, v.query, ctx, ac.atomic));
    });
  });
}

/**
 * Under a hold that includes `table`: the held table becomes its backup, views reading it are
 * re-attached by name (so they follow the new table on servers that bind by UUID), the next
 * table takes its name, then `after` runs before the other tables are released.
 */
export async function swapIn(
  ac: ApplyContext,
  live: LiveState,
  table: string,
  hold: Hold,
  after?: () => Promise<void>,
): Promise<void> {
  const { engine, ctx } = ac;
  if (hold.gated) {
    // Views bind by name here: they follow the new table by themselves.
    await engine.command(
      renameSql(
        [[holdName(table), backupName(table, ac.deployId)], ...hold.vacate(table), [nextName(table), table]],
        ctx,
      ),
    );
    await hold.dropGate(table);
  } else {
    await engine.command(renameSql([[holdName(table), backupName(table, ac.deployId)]], ctx));
    const readers = (live.tables.get(table)?.dependents ?? [])
      .map((v) => live.tables.get(v))
      .filter((v) => v !== undefined && v.engine === 'MaterializedView');
    for (const r of readers) {
      if (!(await exists(ac, r!.name))) continue;
      await engine.command(dropTableSql(r!.name, ctx));
      await engine.command(reattachSql(r!.createQuery, ac.atomic));
    }
    await engine.command(renameSql([[nextName(table), table]], ctx));
  }
  await after?.();
  await hold.release([table]);
}

async function exists(ac: ApplyContext, name: string): Promise<boolean> {
  const rows = await ac.engine.rows(
    `SELECT 1 FROM system.tables WHERE database = ${stringLiteral(ac.ctx.database)} AND name = ${stringLiteral(name)}`,
  );
  return rows.length > 0;
}

/** Runs `body` with `tables` held; releases whatever `body` did not settle, even when it fails. */
export async function withHold(
  ac: ApplyContext,
  step: Step,
  tables: readonly string[],
  body: (hold: Hold) => Promise<void>,
): Promise<void> {
  const hold = await holdTables(ac.engine, ac.ctx, tables, {
    gate: !ac.atomic,
    ...(ac.holdTimeoutMs !== undefined ? { waitTimeoutMs: ac.holdTimeoutMs } : {}),
  });
  try {
    await body(hold);
  } finally {
    try {
      await hold.release();
    } finally {
      ac.emit({ type: 'hold', step, tables, ms: performance.now() - hold.since });
    }
  }
}

/** The view's SELECT over `snapshot` (instead of its live source) into `into`, with progress. */
export async function fill(
  ac: ApplyContext,
  step: Step,
  view: ViewSpec,
  snapshot: Snapshot,
  columns: OutputColumn[],
  into: string,
): Promise<void> {
  const query = querySourceSwapped(view, ac.ctx.database, scratchDatabaseName(ac.ctx.database));
  await fillingView(
    view,
    fillFromSnapshot(
      ac.engine,
      snapshot,
      into,
      columns.map((c) => c.name),
      query,
      {
        label: view.name,
        ...(ac.chunkRows ? { chunkRows: ac.chunkRows } : {}),
        onProgress: (progress) => ac.emit({ type: 'backfill', step, progress }),
      },
    ),
  );
}
