/**
 * One run of a copy pipe at a tick T: `INSERT INTO <to> SELECT ...` with the pipe compiled with
 * `snapshot_at` = T and `settled_before` = the server's clock minus `settle` seconds.
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { EngineError, engineMessage } from '../clickhouse/engine-error.ts';
import { writeGate } from '../clickhouse/write-gate.ts';
import { TallyError } from '../errors.ts';
import type { Pipe, Project } from '../project/model.ts';
import { selectColumns } from '../project/select-columns.ts';
import { formatEpoch } from '../sql/coerce-value.ts';
import { compilePipe } from '../sql/compile-pipe.ts';
import { locateEngineError } from '../sql/locate-engine-error.ts';
import { didYouMean } from '../util/did-you-mean.ts';

export interface CopyRun {
  pipe: string;
  to: string;
  /** T, the tick (UTC, `YYYY-MM-DD hh:mm:ss`). */
  snapshotAt: string;
  /** The server's clock at the start, minus settle. */
  settledBefore: string;
  /**
   * Rows this run wrote, counted in the target by (snapshot_at, settled_before) when it stores
   * both; undefined for other targets (ClickHouse 18.16 reports no written rows over HTTP).
   */
  rows?: number;
  ms: number;
}

export interface RunCopyOptions {
  signal?: AbortSignal;
}

/** The copy pipe `name`, or a user error naming the copy pipes there are. */
export function copyPipe(
  project: Pick<Project, 'pipes'>,
  name: string,
): Pipe & { copy: NonNullable<Pipe['copy']> } {
  const pipe = project.pipes.get(name);
  if (pipe?.copy) return pipe as Pipe & { copy: NonNullable<Pipe['copy']> };
  const copies = [...project.pipes.values()].filter((p) => p.copy).map((p) => p.name);
  throw new TallyError(
    'not-a-copy-pipe',
    pipe
      ? `pipe \`${name}\` is not a copy pipe (it has no \`copy: { to, schedule }\`)`
      : `there is no pipe \`${name}\`${didYouMean(name, copies)}`,
    { hint: `copy pipes: ${copies.join(', ') || 'none'}`, ...(pipe ? { location: pipe.loc } : {}) },
  );
}

/** Runs copy pipe `name` once for tick `at` (whole seconds; milliseconds are dropped). */
export async function runCopy(
  project: Pick<Project, 'pipes' | 'datasources'>,
  engine: Engine,
  name: string,
  at: Date,
  opts: RunCopyOptions = {},
): Promise<CopyRun> {
  const pipe = copyPipe(project, name);
  const target = project.datasources.get(pipe.copy.to)!;
  const t0 = performance.now();
  const signal = opts.signal ? { signal: opts.signal } : {};
  // The server's clock, not ours: ingested_at is filled by the server, so the bound must be too.
  const [clock] = await engine.rows<{ now: number | string }>('SELECT toUInt32(now()) AS now', signal);
  const snapshotAt = formatEpoch(Math.floor(at.getTime() / 1000));
  const settledBefore = formatEpoch(Number(clock?.now) - pipe.copy.settle);
  const compiled = compilePipe(
    project,
    name,
    { snapshot_at: snapshotAt, settled_before: settledBefore },
    { capabilities: engine.capabilities, database: engine.database },
  );
  const table = `${quoteIdent(engine.database)}.${quoteIdent(target.name)}`;
  const last = pipe.nodes[pipe.nodes.length - 1]!;
  // By name where the names are known (a column with a default may be left out); else by position.
  const names = selectColumns(last.sql)?.filter((c) => target.columns.some((t) => t.name === c));
  const sql = names
    ? `INSERT INTO ${table} (${names.map(quoteIdent).join(', ')}) SELECT ${names.map(quoteIdent).join(', ')} FROM (\n${compiled.sql}\n)`
    : `INSERT INTO ${table} SELECT * FROM (\n${compiled.sql}\n)`;
  try {
    // A writer like ingestion: a deploy attaching a view on the embedded engine waits for it.
    await writeGate(engine).shared(() => engine.command(sql, { params: { ...compiled.params }, ...signal }));
  } catch (err) {
    throw copyError(pipe, engine, err);
  }
  const run: CopyRun = { pipe: name, to: target.name, snapshotAt, settledBefore, ms: 0 };
  if (names?.includes('snapshot_at') && names.includes('settled_before')) {
    const [n] = await engine.rows<{ n: number | string }>(
      `SELECT count() AS n FROM ${table} WHERE snapshot_at = toDateTime('${snapshotAt}', 'UTC') AND settled_before = toDateTime('${settledBefore}', 'UTC')`,
      signal,
    );
    run.rows = Number(n?.n ?? 0);
  }
  run.ms = performance.now() - t0;
  return run;
}

/** A refused copy as a TallyError a user can act on, located in the pipe where ClickHouse says. */
function copyError(
  pipe: Pipe & { copy: NonNullable<Pipe['copy']> },
  engine: Engine,
  err: unknown,
): TallyError {
  if (!(err instanceof EngineError))
    return err instanceof TallyError ? err : new TallyError('copy-failed', String(err));
  const message = engineMessage(err);
  const missing = /Table \S+ (?:doesn't|does not) exist/i.test(err.message);
  if (missing && err.message.includes(pipe.copy.to)) {
    return new TallyError(
      'copy-target-missing',
      `copy pipe \`${pipe.name}\` cannot write: data source \`${pipe.copy.to}\` has no table in ${engine.database} (${message})`,
      { location: pipe.copy.loc, hint: 'run `tally deploy` to create it', cause: err },
    );
  }
  const location = missing ? pipe.loc : locateEngineError(pipe.nodes, err);
  return new TallyError('copy-failed', `copy pipe \`${pipe.name}\` failed on ClickHouse: ${message}`, {
    ...(location ? { location } : {}),
    hint: missing ? 'run `tally deploy` to create the tables' : undefined,
    cause: err,
  });
}
