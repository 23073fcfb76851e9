/**
 * `tally diff <endpoint> --base <git ref> [--param k=v ...] [--key c,...] [--sample N] [--json]`:
 * the endpoint answered by the project at `ref` and by the working tree, on the same live data,
 * for each params set of the project's tests of that endpoint (or the given params). Exit 0 when
 * every answer is identical, 1 when some differ (or on a user error), 2 when ClickHouse cannot be
 * reached; a query ClickHouse refuses is that side's answer (the same refusal on both: identical,
 * unless every params set was refused so: nothing compared, exit 1).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TallyError } from '../../errors.ts';
import { loadBaseProject } from '../../replay/base-project.ts';
import {
  type Answer,
  type AnswerDiff,
  answer,
  diffAnswers,
  isIdentical,
  type Row,
} from '../../replay/endpoint-diff.ts';
import { conciseEngineError } from '../../sql/locate-engine-error.ts';
import { findTestFiles } from '../../testing/find-test-files.ts';
import { readTestFile } from '../../testing/test-file.ts';
import { didYouMean } from '../../util/did-you-mean.ts';
import { plural } from '../../util/plural.ts';
import type { Command } from '../command.ts';
import { openDeployedEngine } from '../open.ts';
import { openProject } from '../open-project.ts';
import { type Output, paint } from '../output.ts';
import { parseParamFlags } from '../pipe-tables.ts';

export const diffCommand: Command = {
  name: 'diff',
  summary:
    'answer an endpoint from a git revision and from the working tree on the same data; print the rows that differ',
  usage:
    'tally diff <endpoint> --base <git ref> [--param k=v ...] [--key col,...] [--sample N] [--json] [--project DIR]',
  options: {
    base: { type: 'string' },
    param: { type: 'string', multiple: true },
    key: { type: 'string' },
    sample: { type: 'string' },
  },
  help: [
    'Reads the project files at the base revision (git show <ref>:<path>), and runs the endpoint',
    'with both revisions of its pipes on the configured ClickHouse (same data, same limits).',
    '',
    '  --base REF      the revision to compare with: a branch, tag or commit (required)',
    '  --param k=v     a params set to run (repeat for more params); default: every case of the',
    "                  project's tests (*.test.yaml) for this endpoint, or no params when none",
    '  --key c1,c2     columns that identify a row (default: the first column when its values are',
    '                  distinct; else rows are compared whole and only added/removed are reported)',
    '  --sample N      rows shown per kind of difference and params set (default 10)',
    '  --json          every params set with its added, removed and changed rows',
    '',
    'Exit 0 when every answer is identical, 1 when any differs (or on a user error), 2 when',
    'ClickHouse cannot be reached or on an internal error. A query ClickHouse refuses is that',
    "side's answer: on one side it is a difference; on both alike, identical for that params set,",
    'but every params set refused alike compared nothing: exit 1 (nothing-compared).',
    '',
    'Example: tally diff attribution --base HEAD   # after editing pipes/attribution.pipe.yaml',
  ].join('\n'),
  async run(ctx) {
    const name = ctx.args[0];
    const ref = ctx.flags.base;
    if (!name || ctx.args.length > 1 || typeof ref !== 'string' || ref === '') {
      throw new TallyError(
        'bad-args',
        'tally diff needs one endpoint and --base <git ref>, e.g. tally diff attribution --base HEAD',
      );
    }
    const sample = ctx.flags.sample === undefined ? 10 : Number(ctx.flags.sample);
    if (!Number.isInteger(sample) || sample < 0) {
      throw new TallyError(
        'bad-flag',
        `--sample must be a whole number of rows, 0 or more (got \`${String(ctx.flags.sample)}\`)`,
      );
    }
    const key =
      typeof ctx.flags.key === 'string'
        ? ctx.flags.key
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
    const head = openProject(ctx, { quietWarnings: true });
    if (!head.endpoints.has(name)) {
      throw new TallyError(
        'unknown-endpoint',
        `there is no endpoint ${name} in the working tree${didYouMean(name, head.endpoints.keys())}`,
        { hint: `endpoints: ${[...head.endpoints.keys()].join(', ')}` },
      );
    }
    const paramSets = paramSetsFor(ctx.projectDir, name, (ctx.flags.param as string[] | undefined) ?? []);
    const base = loadBaseProject(ctx.projectDir, ref, ctx.env);
    try {
      if (!base.project.endpoints.has(name)) {
        throw new TallyError(
          'unknown-endpoint',
          `there is no endpoint ${name} at ${ref} (${base.commit.slice(0, 12)})`,
        );
      }
      const engine = await openDeployedEngine(head.config);
      try {
        const results: ParamsResult[] = [];
        for (const ps of paramSets) {
          const before = await answer(base.project, engine, name, ps.params);
          const after = await answer(head, engine, name, ps.params);
          // The answers give the columns: a --key column one of them lacks is refused here, before
          // anything is printed (rows would be matched by nothing).
          if (key) {
            if ('columns' in after) checkKey(key, after.columns, `endpoint ${name}`);
            if ('columns' in before) checkKey(key, before.columns, `endpoint ${name} at ${ref}`);
          }
          results.push(compare(ps, before, after, key, ref));
        }
        // Every params set refused alike by both revisions: nothing was compared, which must not
        // pass as "no differences" (a CI gate would go green).
        if (results.every((r) => r.diff === undefined && r.identical)) {
          const first = results[0]?.baseError ?? 'refused';
          throw new TallyError(
            'nothing-compared',
            `endpoint ${name} refused every params set on both revisions, so nothing was compared: ${firstLine(first)}`,
            {
              hint: (ctx.flags.param as string[] | undefined)?.length
                ? 'fix the --param values (the endpoint refuses them as they are)'
                : `give params with --param name=value, or add test cases for ${name} (see docs/testing.md)`,
            },
          );
        }
        const differing = results.filter((r) => !r.identical).length;
        if (ctx.json) {
          ctx.io.out(
            JSON.stringify(
              { endpoint: name, base: ref, commit: base.commit, identical: differing === 0, results },
              null,
              2,
            ),
          );
        } else {
          ctx.io.out(formatDiff(ctx.io, name, ref, base.commit, results, sample));
        }
        return differing === 0 ? 0 : 1;
      } finally {
        await engine.close();
      }
    } finally {
      base.dispose();
    }
  },
};

interface ParamsSet {
  /** The test case's name, or `--param`. */
  name: string;
  params: Record<string, unknown>;
}

export interface ParamsResult {
  name: string;
  params: Record<string, unknown>;
  identical: boolean;
  baseRows?: number;
  headRows?: number;
  baseError?: string;
  headError?: string;
  /** Why a side was refused, when it is the tables rather than the pipe (see unknownColumnHint). */
  baseHint?: string;
  headHint?: string;
  /** Columns of the working tree's answer the base's lacks, and the other way round. */
  columnsAdded?: string[];
  columnsRemoved?: string[];
  diff?: AnswerDiff;
}

function paramSetsFor(dir: string, endpoint: string, flags: readonly string[]): ParamsSet[] {
  if (flags.length > 0) {
    const params: Record<string, unknown> = {};
    for (const [k, v] of parseParamFlags(flags, 'e.g. --param account_id=6ad87cf1')) {
      if (Object.hasOwn(params, k)) {
        throw new TallyError('bad-flag', `--param ${k} is given twice`, {
          hint: 'give each param once; an Array param takes its items comma-separated',
        });
      }
      params[k] = v;
    }
    return [{ name: '--param', params }];
  }
  const sets: ParamsSet[] = [];
  const seen = new Set<string>();
  for (const file of findTestFiles(dir)) {
    const tf = readTestFile(file, readFileSync(join(dir, file), 'utf8'), []);
    for (const c of tf?.cases ?? []) {
      if (c.endpoint !== endpoint) continue;
      const params = Object.fromEntries(Object.entries(c.params).filter(([, v]) => v !== null));
      const id = JSON.stringify(params);
      if (seen.has(id)) continue;
      seen.add(id);
      sets.push({ name: c.name, params });
    }
  }
  return sets.length > 0 ? sets : [{ name: 'no params', params: {} }];
}

/** Every --key column must be a column of the endpoint's answer. */
function checkKey(key: readonly string[], columns: readonly string[], what: string): void {
  const unknown = key.find((c) => !columns.includes(c));
  if (unknown === undefined) return;
  throw new TallyError(
    'unknown-key-column',
    `--key: ${what} has no column \`${unknown}\`${didYouMean(unknown, columns)}`,
    { hint: `its columns: ${columns.join(', ')}` },
  );
}

function compare(
  ps: ParamsSet,
  before: Answer,
  after: Answer,
  key: readonly string[] | undefined,
  ref: string,
): ParamsResult {
  const out: ParamsResult = { name: ps.name, params: ps.params, identical: false };
  if ('error' in before || 'error' in after) {
    if ('error' in before) out.baseError = before.error;
    else out.baseRows = before.rows.length;
    if ('error' in after) out.headError = after.error;
    else out.headRows = after.rows.length;
    out.identical = 'error' in before && 'error' in after && before.error === after.error;
    if (!out.identical) {
      if ('error' in before && before.unknownColumn) out.baseHint = unknownColumnHint('base', ref);
      if ('error' in after && after.unknownColumn) out.headHint = unknownColumnHint('head', ref);
    }
    return out;
  }
  const diff = diffAnswers(before.rows, after.rows, after.columns, key);
  const columnsAdded = after.columns.filter((c) => !before.columns.includes(c));
  const columnsRemoved = before.columns.filter((c) => !after.columns.includes(c));
  return {
    ...out,
    ...(columnsAdded.length > 0 ? { columnsAdded } : {}),
    ...(columnsRemoved.length > 0 ? { columnsRemoved } : {}),
    // A column added, dropped or renamed changes the answer's shape, rows or not.
    identical: isIdentical(diff) && columnsAdded.length === 0 && columnsRemoved.length === 0,
    baseRows: before.rows.length,
    headRows: after.rows.length,
    diff,
  };
}

function formatDiff(
  io: Output,
  endpoint: string,
  ref: string,
  commit: string,
  results: readonly ParamsResult[],
  sample: number,
): string {
  const lines: string[] = [
    `${endpoint}: ${ref} (${commit.slice(0, 12)}) vs the working tree, ${results.length} params set(s)`,
  ];
  for (const r of results) {
    const params = Object.entries(r.params)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    const title = `${r.name}${params ? ` (${params})` : ''}`;
    if (r.identical) {
      const order = r.diff?.orderPartsAt;
      lines.push(
        r.baseRows !== undefined
          ? paint(
              io,
              'green',
              `  = ${title}: identical, ${plural(r.baseRows, 'row')}${order !== undefined ? ` (in another order from row ${order}: not counted as a difference, as an answer without ORDER BY has no fixed order)` : ''}`,
            )
          : paint(io, 'yellow', `  = ${title}: refused alike by both: ${firstLine(r.baseError ?? '')}`),
      );
      continue;
    }
    if (!r.diff) {
      // `head` would read as git's HEAD, which is often the base: the sides by their names.
      const width = Math.max(ref.length, 'working tree'.length) + 1;
      const side = (label: string, error: string | undefined, rows: number | undefined, hint?: string) => {
        lines.push(
          `      ${`${label}:`.padEnd(width)} ${error !== undefined ? conciseEngineError(error) : plural(rows ?? 0, 'row')}`,
        );
        if (hint) lines.push(`      ${' '.repeat(width)} hint: ${hint}`);
      };
      lines.push(paint(io, 'red', `  ≠ ${title}`));
      side(ref, r.baseError, r.baseRows, r.baseHint);
      side('working tree', r.headError, r.headRows, r.headHint);
      continue;
    }
    const d = r.diff;
    lines.push(
      paint(
        io,
        'yellow',
        `  ≠ ${title}: ${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed (${r.baseRows} -> ${r.headRows} rows${d.key.length > 0 ? `, by ${d.key.join(', ')}` : ', whole rows'})`,
      ),
    );
    if (r.columnsAdded || r.columnsRemoved) {
      const cols = [
        ...(r.columnsRemoved ?? []).map((c) => `- ${c}`),
        ...(r.columnsAdded ?? []).map((c) => `+ ${c}`),
      ];
      lines.push(`      columns: ${cols.join(', ')}`);
    }
    const show = (rows: readonly Row[], sign: string, kind: string) => {
      for (const row of rows.slice(0, sample)) lines.push(`      ${sign} ${JSON.stringify(row)}`);
      if (rows.length > sample) lines.push(`      ... ${rows.length - sample} more ${kind}`);
    };
    show(d.added, '+', 'added');
    show(d.removed, '-', 'removed');
    for (const c of d.changed.slice(0, sample)) {
      const what = c.columns.map((col) => `${col}: ${shown(c.base[col])} -> ${shown(c.head[col])}`);
      lines.push(`      ~ ${JSON.stringify(c.key)} ${what.join(', ')}`);
    }
    if (d.changed.length > sample) lines.push(`      ... ${d.changed.length - sample} more changed`);
    if (d.keyRepeats) {
      lines.push(
        `      note: ${d.key.join(', ')} repeats within an answer, so it does not name one row: rows with the same key were paired whole first, then in order`,
      );
    }
  }
  const differing = results.filter((r) => !r.identical).length;
  lines.push(differing === 0 ? 'No differences.' : `${differing} of ${results.length} params set(s) differ.`);
  return lines.join('\n');
}

/**
 * Both revisions run on the tables as they are deployed, not as each revision declares them: a
 * base that reads a column a later deploy dropped or renamed is refused for it, which is no
 * difference between the pipes, and the working tree refused for a column not deployed yet
 * only needs a deploy.
 */
function unknownColumnHint(side: 'base' | 'head', ref: string): string {
  return side === 'base'
    ? `the pipe at ${ref} reads columns the live tables no longer have: both revisions run on the tables as deployed, not as ${ref} declared them`
    : 'the working tree reads columns the live tables do not have yet: run `tally deploy`, then diff again';
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).slice(0, 300);
}

/** A cell as JSON; a column one side's answer does not have, as such. */
function shown(v: unknown): string {
  return v === undefined ? '(no such column)' : JSON.stringify(v);
}
