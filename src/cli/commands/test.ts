import { join } from 'node:path';
import { sortProblems } from '../../config/load-config.ts';
import { formatLocation, type Problem, TallyError } from '../../errors.ts';
import { updatedExpectation } from '../../testing/check-answer.ts';
import { formatFailure, formatMs, type Paint } from '../../testing/format-report.ts';
import { readProjectTests } from '../../testing/read-project-tests.ts';
import { type CaseResult, type FixtureReport, type RunEvent, runTests } from '../../testing/run-tests.ts';
import type { TestFile } from '../../testing/test-file.ts';
import { type CaseUpdate, updateTestFile } from '../../testing/update-test-file.ts';
import { plural } from '../../util/plural.ts';
import type { Command, CommandContext } from '../command.ts';
import { openProject } from '../open-project.ts';
import { failureDocument, paint, printProblems } from '../output.ts';

export const testCommand: Command = {
  name: 'test',
  summary: 'run the endpoint tests (*.test.yaml) against the fixtures in a fresh database',
  usage: 'tally test [FILTER...] [--project DIR] [--update] [--json]',
  options: { update: { type: 'boolean', short: 'u' } },
  help: [
    'Finds every *.test.yaml in the project, creates a temporary database (tally_test_<time>_<random>;',
    'on the embedded engine in a throw-away data folder, so it runs beside `tally dev`), deploys the',
    'project into it, loads fixtures/<data source>.ndjson through the ingestion path (dedup and',
    'quarantine apply), asks each case of the endpoints in-process, and drops the database.',
    '',
    '  FILTER        run only cases whose file, endpoint or name contains it (several: any of them)',
    '  -u, --update  rewrite the expectations of failing cases to the actual answers, in place',
    '                (comments and the rest of the file are kept)',
    '  --json        one JSON report on stdout',
    '',
    'Exit code 0 when every case passes, 1 when one fails (or a test file is invalid, or there is no',
    'test file, or FILTER matches no case), 2 on a ClickHouse or internal error. The file format is',
    'in docs/testing.md.',
  ].join('\n'),
  async run(ctx) {
    return runTestCommand(ctx);
  },
};

async function runTestCommand(ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const t0 = performance.now();
  const project = openProject(ctx, { quietWarnings: ctx.json });
  const problems: Problem[] = [];
  const files = readProjectTests(project, problems);
  problems.splice(0, problems.length, ...sortProblems(problems));
  const errors = problems.filter((p) => p.severity === 'error');
  if (ctx.json && errors.length > 0) {
    const message = `${plural(errors.length, 'problem')} in the test files; no test ran`;
    // The problems also at the top level, where they were before the shared shape.
    const failure = failureDocument(new TallyError('invalid-tests', message, { details: { problems } }));
    io.out(JSON.stringify({ ...failure, problems }, null, 2));
    return 1;
  }
  printProblems(io, ctx.json ? errors : problems);
  if (errors.length > 0) {
    io.err(paint(io, 'red', `✗ ${plural(errors.length, 'problem')} in the test files; no test ran`));
    return 1;
  }
  const selected = filterCases(files, ctx.args);
  const total = selected.reduce((n, f) => n + f.cases.length, 0);
  if (total === 0) {
    const why =
      files.length === 0
        ? `no test files (*.test.yaml) in ${project.root}`
        : `no case matches ${ctx.args.map((a) => JSON.stringify(a)).join(' or ')}`;
    const code = files.length === 0 ? 'no-tests' : 'no-match';
    if (ctx.json) io.out(JSON.stringify(failureDocument(new TallyError(code, why)), null, 2));
    else io.err(paint(io, 'red', `✗ ${why}`));
    return 1;
  }

  const p: Paint = (c, s) => paint(io, c, s);
  const fixtures: FixtureReport[] = [];
  const warnings: string[] = [];
  let currentFile: string | undefined;
  const onEvent = (e: RunEvent) => {
    if (e.kind === 'fixture') fixtures.push(e.fixture);
    if (e.kind === 'warning') warnings.push(e.message);
    if (ctx.json) return;
    if (e.kind === 'setup') io.out(p('dim', `${e.what} (${formatMs(e.ms)})`));
    else if (e.kind === 'warning') io.err(p('yellow', `warning: ${e.message}`));
    else if (e.kind === 'fixture') printFixture(ctx, e.fixture, p);
    else if (e.kind === 'case') {
      if (e.result.file !== currentFile) {
        currentFile = e.result.file;
        io.out(`\n${p('bold', e.result.file)}`);
      }
      io.out(caseLine(e.result, p));
    }
  };
  const run = await runTests({ project, files: selected, signal: ctx.stopSignal, onEvent });

  const failed = run.results.filter((r) => r.state === 'failed');
  const updated = new Set<CaseResult>();
  const notUpdated: Array<{ result: CaseResult; why: string }> = [];
  if (ctx.flags.update && failed.length > 0) {
    for (const file of selected) {
      const updates: CaseUpdate[] = [];
      const mine = failed.filter((r) => r.file === file.file);
      for (const r of mine) {
        const u = r.answer ? updatedExpectation(r.testCase.expected, r.answer) : { refused: 'no answer' };
        if ('refused' in u) notUpdated.push({ result: r, why: u.refused });
        else updates.push({ index: r.testCase.index, set: u.set });
      }
      if (updates.length === 0) continue;
      try {
        updateTestFile(join(project.root, file.file), file.text, updates);
        for (const r of mine) if (updates.some((u) => u.index === r.testCase.index)) updated.add(r);
      } catch (err) {
        for (const r of mine) notUpdated.push({ result: r, why: (err as Error).message });
      }
    }
  }

  const counts = {
    passed: run.results.filter((r) => r.state === 'passed').length,
    failed: failed.length - updated.size,
    updated: updated.size,
    skipped: run.results.filter((r) => r.state === 'skipped').length,
  };
  const ms = performance.now() - t0;
  const ok = counts.failed === 0 && !run.interrupted;
  if (ctx.json) {
    io.out(
      JSON.stringify(
        {
          ok,
          ...counts,
          interrupted: run.interrupted,
          ms: Math.round(ms),
          setup_ms: Math.round(run.setupMs),
          engine: run.engine,
          fixtures,
          warnings,
          cases: run.results.map((r) => ({
            file: r.file,
            name: r.testCase.name,
            endpoint: r.testCase.endpoint,
            state: updated.has(r) ? 'updated' : r.state,
            ms: Math.round(r.ms),
            location: formatLocation(r.testCase.loc),
            ...(r.failures.length > 0 ? { failures: r.failures } : {}),
          })),
        },
        null,
        2,
      ),
    );
  } else {
    printFailures(ctx, failed, updated, p);
    for (const { result, why } of notUpdated) {
      io.err(p('yellow', `not updated: ${result.file} > ${result.testCase.name}: ${why}`));
    }
    const updatedFiles = new Set([...updated].map((r) => r.file));
    for (const f of updatedFiles) {
      const n = [...updated].filter((r) => r.file === f).length;
      io.out(p('yellow', `updated ${f} (${plural(n, 'case')})`));
    }
    const parts = [`${counts.passed} passed`, `${counts.failed} failed`];
    if (counts.updated) parts.push(`${counts.updated} updated`);
    if (counts.skipped) parts.push(`${counts.skipped} skipped`);
    const nFiles = new Set(run.results.map((r) => r.file)).size;
    const timing = `${plural(run.results.length, 'case')} in ${plural(nFiles, 'file')}, ${formatMs(ms)}; setup ${formatMs(run.setupMs)}`;
    io.out('');
    if (run.interrupted)
      io.out(p('yellow', `interrupted: ${parts.join(', ')} (${timing}); the test database was dropped`));
    else io.out(p(ok ? 'green' : 'red', `${ok ? '✓' : '✗'} ${parts.join(', ')} (${timing})`));
  }
  if (run.interrupted) return 130;
  return ok ? 0 : 1;
}

/** Cases whose file, endpoint or name contains one of the filters (case-insensitive). */
function filterCases(files: readonly TestFile[], filters: readonly string[]): TestFile[] {
  if (filters.length === 0) return [...files];
  const fs = filters.map((f) => f.toLowerCase());
  return files
    .map((f) => ({
      ...f,
      cases: f.cases.filter((c) =>
        fs.some((x) => [f.file, c.endpoint, c.name].some((s) => s.toLowerCase().includes(x))),
      ),
    }))
    .filter((f) => f.cases.length > 0);
}

function caseLine(r: CaseResult, p: Paint): string {
  const time = p('dim', formatMs(r.ms));
  if (r.state === 'passed') return `  ${p('green', '✓')} ${r.testCase.name} ${time}`;
  if (r.state === 'skipped') {
    return `  ${p('yellow', '↓')} ${r.testCase.name} ${p('dim', `skipped${r.testCase.skip ? `: ${r.testCase.skip}` : ''}`)}`;
  }
  return `  ${p('red', '✗')} ${r.testCase.name} ${time}`;
}

function printFixture(ctx: CommandContext, f: FixtureReport, p: Paint): void {
  const parts = [`${f.stored} stored`];
  if (f.duplicates) parts.push(`${plural(f.duplicates, 'duplicate')} dropped`);
  if (f.quarantined) parts.push(`${f.quarantined} quarantined`);
  ctx.io.out(p('dim', `${f.file}: ${f.events} events, ${parts.join(', ')}`));
  for (const r of f.refused) {
    ctx.io.err(
      p(
        'yellow',
        r.line > 0
          ? `  ${f.file}:${r.line}: quarantined: ${r.reason}`
          : `  ${f.file}: ${r.reason} quarantined`,
      ),
    );
  }
}

function printFailures(
  ctx: CommandContext,
  failed: readonly CaseResult[],
  updated: ReadonlySet<CaseResult>,
  p: Paint,
): void {
  const shown = failed.filter((r) => !updated.has(r));
  if (shown.length === 0) return;
  ctx.io.out('');
  ctx.io.out(p('red', p('bold', `Failed cases (${shown.length})`)));
  for (const r of shown) {
    ctx.io.out('');
    ctx.io.out(`${p('red', 'FAIL')} ${r.file} > ${r.testCase.name}`);
    ctx.io.out(p('dim', `  at ${formatLocation(r.testCase.loc)}: ${requestLine(r)}`));
    for (const f of r.failures) for (const line of formatFailure(f, p)) ctx.io.out(line);
  }
}

/** The request as the runner sent it (run-tests.ts ask): a GET, or a POST with a JSON body for lists. */
function requestLine(r: CaseResult): string {
  const path = `/v0/pipes/${r.testCase.endpoint}.json`;
  const params = Object.entries(r.testCase.params).filter(([, v]) => v !== null);
  if (params.some(([, v]) => typeof v === 'object')) {
    return `POST ${path} ${JSON.stringify(Object.fromEntries(params))}`;
  }
  const qs = new URLSearchParams(params.map(([k, v]): [string, string] => [k, String(v)])).toString();
  return `GET ${path}${qs ? `?${qs}` : ''}`;
}
