/** `tally snapshot run [pipe...] [--at <DateTime>]`: run copy pipes once, now. */

import { isConnectionFailure } from '../../clickhouse/engine-error.ts';
import { isTallyError, TallyError } from '../../errors.ts';
import type { Param } from '../../project/model.ts';
import { latestTick } from '../../schedule/cron-ticks.ts';
import type { CronSchedule } from '../../schedule/parse-cron.ts';
import { copyPipe, runCopy } from '../../snapshot/run-copy.ts';
import { epochOfCanonical } from '../../sql/coerce-value.ts';
import { isParamError } from '../../sql/param-error.ts';
import { parseParamValue } from '../../sql/parse-param-value.ts';
import { closest } from '../../util/did-you-mean.ts';
import { plural } from '../../util/plural.ts';
import type { Command, CommandContext } from '../command.ts';
import { openDeployedEngine } from '../open.ts';
import { openProject } from '../open-project.ts';
import { failureDocument, paint, printError, table } from '../output.ts';

const AT_PARAM: Param = {
  name: 'at',
  type: { name: 'DateTime', args: [], text: 'DateTime' },
  required: true,
  loc: { file: '--at', line: 1, col: 1 },
};

export const snapshotCommand: Command = {
  name: 'snapshot',
  summary: 'run copy pipes once now (the snapshots `tally serve` and `tally dev` take on schedule)',
  usage: 'tally snapshot run [pipe...] [--at <DateTime>] [--json] [--project DIR]',
  options: { at: { type: 'string' } },
  help: [
    'Runs each named copy pipe (default: every copy pipe of the project) once: INSERT INTO its',
    '`copy.to` SELECT ..., with {{ snapshot_at }} = the tick and {{ settled_before }} = the',
    "ClickHouse server's clock minus the pipe's `settle` seconds. Prints the rows written and the time.",
    '  --at T   the tick to snapshot, a DateTime in UTC (`2024-03-12 00:00:00`); default: the latest',
    "           tick of each pipe's schedule at or before now",
    'Running the same tick again is safe: the target (a ReplacingMergeTree on the entity and',
    'snapshot_at) keeps one row per entity and tick.',
  ].join('\n'),
  async run(ctx) {
    const [action, ...names] = ctx.args;
    if (action !== 'run') {
      throw new TallyError(
        'bad-args',
        `tally snapshot needs an action: \`run\`${action === undefined ? '' : ` (got \`${action}\`${closest(action, ['run']) ? '; did you mean `run`?' : ''})`}; e.g. tally snapshot run (every copy pipe) or tally snapshot run <copy pipe>`,
      );
    }
    let at: Date | undefined;
    if (ctx.flags.at !== undefined) {
      try {
        at = new Date(epochOfCanonical(parseParamValue(String(ctx.flags.at), AT_PARAM) as string) * 1000);
      } catch (err) {
        if (!isParamError(err)) throw err;
        throw new TallyError(
          'bad-flag',
          `--at must be a DateTime such as 2024-03-12 00:00:00 (UTC); got \`${String(ctx.flags.at)}\``,
        );
      }
    }
    const project = openProject(ctx, { quietWarnings: true });
    const pipes =
      names.length > 0
        ? names.map((n) => copyPipe(project, n))
        : [...project.pipes.values()].filter((p) => p.copy).map((p) => copyPipe(project, p.name));
    if (pipes.length === 0) {
      throw new TallyError('no-copy-pipes', `project ${ctx.projectDir} has no copy pipes`, {
        hint: 'a copy pipe has `copy: { to: <data source>, schedule: <cron> }`; see docs/reference/pipe.md',
      });
    }
    // Writes only into tables a deploy made: a missing database is refused, not created.
    const engine = await openDeployedEngine(project.config);
    try {
      const runs = [];
      // A copy pipe that fails does not stop the others: each snapshot stands alone, and what
      // was written is reported with what was not.
      const failed: Array<{ pipe: string; err: TallyError }> = [];
      for (const pipe of pipes) {
        try {
          const tick = at ?? latestTick(pipe.copy.schedule, new Date());
          if (!tick) {
            throw new TallyError(
              'no-tick',
              `the schedule of copy pipe \`${pipe.name}\` (${pipe.copy.schedule.text}) has no tick in the last five years; pass --at`,
              { location: pipe.copy.loc },
            );
          }
          if (at) warnOfTick(ctx, pipe.name, pipe.copy.schedule, at);
          runs.push(await runCopy(project, engine, pipe.name, tick, { signal: ctx.stopSignal }));
        } catch (err) {
          // ClickHouse unreachable, a stop, or a bug: the next pipe would fail alike.
          if (!isTallyError(err) || isConnectionFailure(err) || ctx.stopSignal.aborted) throw err;
          failed.push({ pipe: pipe.name, err });
        }
      }
      if (ctx.json) {
        const written = runs.map((r) => ({ ...r, ms: Math.round(r.ms) }));
        ctx.io.out(
          JSON.stringify(
            failed.length === 0
              ? written
              : {
                  ...failureDocument(failed[0]!.err),
                  written,
                  failed: failed.map((f) => ({ pipe: f.pipe, ...failureDocument(f.err).error })),
                },
            null,
            2,
          ),
        );
      } else {
        ctx.io.out(
          table(
            runs.map((r) => [
              r.pipe,
              `-> ${r.to}`,
              `snapshot_at ${r.snapshotAt}`,
              `settled_before ${r.settledBefore}`,
              r.rows === undefined ? 'rows written: not reported' : `${r.rows} rows`,
              `${r.ms.toFixed(0)} ms`,
            ]),
          ),
        );
        for (const r of runs) {
          if (r.rows !== 0) continue;
          const settle = project.pipes.get(r.pipe)?.copy?.settle ?? 0;
          ctx.io.out(
            `note: ${r.pipe} wrote no rows: it counts events up to snapshot_at (${r.snapshotAt}) that reached ClickHouse before settled_before (the server's clock minus settle, ${settle} s): either none is that old, or they were ingested since and wait for the next tick`,
          );
        }
        for (const f of failed) printError(ctx.io, f.err);
        const empty = runs.filter((r) => r.rows === 0).length;
        const done = `${plural(runs.length, 'snapshot')} written${empty > 0 ? ` (${empty} with no rows: see the note)` : ''}`;
        ctx.io.out(
          failed.length === 0
            ? paint(ctx.io, empty > 0 ? 'yellow' : 'green', done)
            : paint(
                ctx.io,
                'red',
                `${done}, ${failed.length} failed (${failed.map((f) => f.pipe).join(', ')})`,
              ),
        );
      }
      return failed.length === 0 ? 0 : Math.max(...failed.map((f) => f.err.exitCode));
    } finally {
      await engine.close();
    }
  },
};

/**
 * --at as given is written as asked; said when it is not what a schedule would write: a time
 * that is not one of its ticks, or one in the future (whose row every later read takes as the
 * latest snapshot until real ticks pass it).
 */
function warnOfTick(ctx: CommandContext, pipe: string, schedule: CronSchedule, at: Date): void {
  const shown = at.toISOString().slice(0, 19).replace('T', ' ');
  if (at.getTime() > Date.now()) {
    ctx.io.err(
      paint(
        ctx.io,
        'yellow',
        `warning: --at ${shown} is in the future: ${pipe}'s row there is the latest snapshot for every read until the clock passes it`,
      ),
    );
  }
  if (latestTick(schedule, at)?.getTime() !== at.getTime()) {
    ctx.io.err(
      paint(
        ctx.io,
        'yellow',
        `warning: --at ${shown} is not a tick of ${pipe}'s schedule (${schedule.text}): written as asked`,
      ),
    );
  }
}
