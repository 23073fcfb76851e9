/**
 * `tally replay <materialized pipe> [--apply] [--sample N] [--json]`: recompute the pipe's target
 * from the whole log with the pipe as it is now, print what would change per key, and with
 * --apply swap the recomputed target in. Exit 0 when it ran (whether or not anything differs),
 * 1 on a user error (no such pipe, not deployed), 2 on a ClickHouse or internal error.
 */

import type { BackfillProgress } from '../../deploy/backfill.ts';
import { backupName } from '../../deploy/names.ts';
import { TallyError } from '../../errors.ts';
import type { KeyDiff } from '../../replay/compare-tables.ts';
import { applyReplay, type ReplayResult, replayPipe } from '../../replay/replay.ts';
import type { Command } from '../command.ts';
import { openDeployedEngine } from '../open.ts';
import { openProject } from '../open-project.ts';
import { type Output, paint } from '../output.ts';
import { progressPrinter, resultJson } from './deploy.ts';

export const replayCommand: Command = {
  name: 'replay',
  summary:
    "recompute a materialized pipe's target from the whole log with the current logic; diff; --apply swaps it in",
  usage: 'tally replay <materialized pipe> [--apply] [--sample N] [--json] [--project DIR]',
  options: { apply: { type: 'boolean' }, sample: { type: 'string' } },
  help: [
    'Fills <target>__tally_replay from the whole event log with the pipe as it is in the working',
    'tree (a progress bar on stderr when it is a terminal), compares it with the live target per',
    'key (the sorting key; aggregate states are compared finalized, with <fn>Merge), prints the keys',
    'added, removed and changed, and drops the shadow. Nothing live changes.',
    '',
    "  --apply     then recompute the target exactly and swap it in (deploy's replace-view step:",
    '              writers keep inserting, nothing lost or counted twice; the old table stays as',
    '              <target>__backup_<id> until the next successful deploy)',
    '  --sample N  keys shown per kind of difference (default 10)',
    '  --json      the result as JSON',
    '',
    'Exit 0 when it ran (differences or not), 1 on a user error, 2 on a ClickHouse error.',
    '',
    'Example: change the status mapping in pipes/subscription_state_mv.pipe.yaml, then',
    '  tally replay subscription_state_mv            # what would change',
    '  tally replay subscription_state_mv --apply    # and make it so',
  ].join('\n'),
  async run(ctx) {
    const pipe = ctx.args[0];
    if (!pipe || ctx.args.length > 1) {
      throw new TallyError(
        'bad-args',
        'tally replay needs one materialized pipe, e.g. tally replay subscription_state_mv',
      );
    }
    const sample = ctx.flags.sample === undefined ? 10 : Number(ctx.flags.sample);
    if (!Number.isInteger(sample) || sample < 0) {
      throw new TallyError(
        'bad-flag',
        `--sample must be a whole number of keys, 0 or more (got \`${String(ctx.flags.sample)}\`)`,
      );
    }
    const project = openProject(ctx, { quietWarnings: true });
    // Also with --apply: it replays a deployed target, so a missing database is refused, not created.
    const engine = await openDeployedEngine(project.config);
    const bar = progressBar();
    try {
      const result = await replayPipe(project, engine, pipe, {
        sample,
        onProgress: bar.update,
        onCompare: bar.comparing,
      });
      bar.done();
      if (!ctx.json) ctx.io.out(formatReplay(ctx.io, result));
      if (!ctx.flags.apply) {
        if (ctx.json) ctx.io.out(JSON.stringify(replayJson(result), null, 2));
        return 0;
      }
      const applied = await applyReplay(project, engine, pipe, {
        onProgress: progressPrinter(ctx.json ? ctx.io.err : ctx.io.out),
      });
      if (ctx.json)
        ctx.io.out(JSON.stringify({ ...replayJson(result), applied: resultJson(applied) }, null, 2));
      if (!applied.ok) {
        ctx.io.err(applied.error ?? 'the swap failed');
        return applied.exitCode || 2;
      }
      if (!ctx.json) {
        const hold = applied.holds.length > 0 ? Math.max(...applied.holds.map((h) => h.ms)) : 0;
        ctx.io.out(
          `Applied: ${result.target} recomputed and swapped in (deployment ${applied.deployId}, ${(applied.durationMs / 1000).toFixed(2)} s; writers held at most ${hold.toFixed(0)} ms).`,
        );
        for (const w of applied.warnings ?? []) ctx.io.err(`warning: ${w}`);
        const d = result.diff.counts;
        if (d.added + d.removed + d.changed === 0) {
          ctx.io.out(
            `note: the replay found no differences, so the swap changed no value; the previous table is kept as ${backupName(result.target, applied.deployId)} until the next successful deploy, like any backup`,
          );
        }
      }
      return 0;
    } catch (e) {
      bar.done();
      throw e;
    } finally {
      await engine.close();
    }
  },
};

/** The result as printed: a summary line, then samples per kind. */
export function formatReplay(io: Output, r: ReplayResult): string {
  const d = r.diff;
  const rate = r.fillMs > 0 ? Math.round(r.rowsRead / (r.fillMs / 1000)) : 0;
  const lines = [
    `Replayed ${r.pipe} into ${r.shadow}: ${r.rowsRead.toLocaleString('en-US')} events in ${(r.fillMs / 1000).toFixed(2)} s (${rate.toLocaleString('en-US')} rows/s); ${d.replayedKeys.toLocaleString('en-US')} keys, live ${r.target} has ${d.liveKeys.toLocaleString('en-US')}.`,
  ];
  const total = d.counts.added + d.counts.removed + d.counts.changed;
  if (total === 0) {
    lines.push(paint(io, 'green', `No differences per key (${d.key.join(', ') || 'whole table'}).`));
    return lines.join('\n');
  }
  lines.push(
    `Per key (${d.key.join(', ')}): ${paint(io, 'green', `${d.counts.added} added`)}, ${paint(io, 'red', `${d.counts.removed} removed`)}, ${paint(io, 'yellow', `${d.counts.changed} changed`)}.`,
  );
  for (const kind of ['added', 'removed', 'changed'] as const) {
    const s = d.samples[kind];
    if (s.length === 0) continue;
    lines.push('', `${kind} (${s.length} of ${d.counts[kind]}):`);
    for (const k of s) lines.push(`  ${formatKeyDiff(k)}`);
  }
  return lines.join('\n');
}

function formatKeyDiff(k: KeyDiff): string {
  const key = Object.entries(k.key)
    .map(([n, v]) => `${n}=${show(v)}`)
    .join(' ');
  if (k.live && k.replayed) {
    const changes = Object.keys(k.replayed)
      .filter((c) => show(k.live![c]) !== show(k.replayed![c]))
      .map((c) => `${c}: ${show(k.live![c])} -> ${show(k.replayed![c])}`);
    return `${key}  ${changes.join(', ')}`;
  }
  const vals = k.replayed ?? k.live ?? {};
  return `${key}  ${Object.entries(vals)
    .map(([c, v]) => `${c}=${show(v)}`)
    .join(' ')}`;
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function replayJson(r: ReplayResult) {
  return r;
}

/** A one-line progress bar on stderr, redrawn in place; only when stderr is a terminal. */
function progressBar(): { update: (p: BackfillProgress) => void; comparing: () => void; done: () => void } {
  const tty = Boolean(process.stderr.isTTY);
  let shown = false;
  let last = 0;
  return {
    update: (p) => {
      if (!tty) return;
      const now = performance.now();
      if (now - last < 100 && p.rowsDone < p.rowsTotal) return;
      last = now;
      const f = p.rowsTotal === 0 ? 1 : p.rowsDone / p.rowsTotal;
      const width = 30;
      const full = Math.round(Math.max(0, Math.min(1, f)) * width);
      const eta =
        p.etaMs !== undefined && p.rowsDone < p.rowsTotal ? `, ETA ${(p.etaMs / 1000).toFixed(1)} s` : '';
      process.stderr.write(
        `\r${p.label} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${p.rowsDone.toLocaleString('en-US')}/${p.rowsTotal.toLocaleString('en-US')} rows${eta}\u001b[K`,
      );
      shown = true;
    },
    comparing: () => {
      if (!tty) return;
      process.stderr.write(`${shown ? '\n' : ''}comparing with the live table per key...\u001b[K`);
      shown = true;
    },
    done: () => {
      if (shown) process.stderr.write('\n');
      shown = false;
    },
  };
}
