import { relative } from 'node:path';
import { capabilitiesFor } from '../../clickhouse/capabilities.ts';
import type { Problem } from '../../errors.ts';
import { checkDedupReads } from '../../project/check-dedup-reads.ts';
import { loadProject, notAProjectProblem } from '../../project/load-project.ts';
import type { DataSource, Project } from '../../project/model.ts';
import { templateParamUses } from '../../project/parse-template.ts';
import { isAggregateState } from '../../project/parse-type.ts';
import { pipesFilling } from '../../project/pipes-filling.ts';
import { compileNodesForCheck } from '../../sql/index.ts';
import { ParamError } from '../../sql/param-error.ts';
import { readProjectTests } from '../../testing/read-project-tests.ts';
import { plural } from '../../util/plural.ts';
import type { Command } from '../command.ts';
import { type Output, paint, printProblems, table } from '../output.ts';
import { analyseProjectSql } from './check-sql.ts';

export const checkCommand: Command = {
  name: 'check',
  noArgs: true,
  summary: 'load and validate the project, compile every node, and list every problem',
  usage: 'tally check [--project DIR] [--json] [--sql]',
  options: { sql: { type: 'boolean' } },
  help: [
    'Reads tally.yaml, datasources/, pipes/ and endpoints/, reports every problem with file:line:col,',
    'and compiles every node with sample params (defaults, or a sample of the type).',
    '  --sql   also asks the configured ClickHouse (the embedded engine by default) to analyse every',
    '          compiled query against the project tables, in a scratch database dropped afterwards.',
  ].join('\n'),
  async run(ctx) {
    const t0 = performance.now();
    const { project, problems } = loadProject(ctx.projectDir, { env: ctx.env });
    // A mistyped --project would otherwise "pass" with nothing checked.
    const notAProject = project && notAProjectProblem(ctx.projectDir, 'nothing to check');
    if (notAProject) problems.push(notAProject);
    if (project) problems.push(...compileAll(project), ...checkDedupReads(project));
    // The endpoint tests too: a case naming an unknown endpoint or param, or a bad expectation.
    // Not in a folder that is not a project: its test files would be searched for in every subfolder.
    if (project && !notAProject) readProjectTests(project, problems);
    if (project && ctx.flags.sql && !problems.some((p) => p.severity === 'error')) {
      problems.push(...(await analyseProjectSql(project)));
    }
    const errors = problems.filter((p) => p.severity === 'error').length;
    const warnings = problems.length - errors;
    const ms = performance.now() - t0;
    if (ctx.json) {
      ctx.io.out(
        JSON.stringify(
          {
            ok: errors === 0,
            errors,
            warnings,
            ms: Math.round(ms),
            problems,
            resources: project ? resources(project) : undefined,
          },
          null,
          2,
        ),
      );
    } else {
      if (project && !notAProject) ctx.io.out(tree(ctx.io, project));
      printProblems(ctx.io, problems);
      const summary = `${plural(errors, 'error')}, ${plural(warnings, 'warning')} (${ms.toFixed(0)} ms)`;
      ctx.io.out(
        errors === 0 ? paint(ctx.io, 'green', `✓ ${summary}`) : paint(ctx.io, 'red', `✗ ${summary}`),
      );
    }
    return errors === 0 ? 0 : 1;
  },
};

/** Compiles every node of every pipe with sample params; a failure is a located problem. */
function compileAll(project: Project): Problem[] {
  const problems: Problem[] = [];
  // Compile for the oldest server we support, so a check passes only for SQL that runs anywhere.
  const capabilities = capabilitiesFor('18.16.1');
  for (const pipe of project.pipes.values()) {
    const results = compileNodesForCheck(project, pipe.name, {
      capabilities,
      database: project.config.clickhouse.database,
    });
    pipe.nodes.forEach((node, i) => {
      const err = results[i]?.error;
      if (err === undefined) return;
      const use =
        err instanceof ParamError && err.code === 'missing-param'
          ? templateParamUses(node.template).find((u) => u.param === err.param && u.kind === 'value')
          : undefined;
      if (use) {
        // At its {{ }}, with the fixes: the request-time message (`expected ...`) is for callers.
        problems.push({
          severity: 'error',
          code: 'missing-param',
          message: `node \`${node.name}\` uses {{ ${use.param} }} where a request may give it no value (param \`${use.param}\` is optional and has no default)`,
          location: use.loc,
          hint: `give it a default, make it required: true, or wrap the SQL in {% if defined(${use.param}) %} ... {% end %}`,
        });
        return;
      }
      problems.push({
        severity: 'error',
        code: (err as { code?: string }).code ?? 'compile-error',
        message: `node \`${node.name}\` does not compile: ${(err as Error).message}`,
        location: node.loc,
      });
    });
  }
  return problems;
}

function resources(project: Project) {
  return {
    datasources: [...project.datasources.values()].map((d) => ({
      name: d.name,
      file: d.file,
      kafka: d.kafka?.topic,
      engine: d.engine.type,
      columns: d.columns.length,
    })),
    pipes: [...project.pipes.values()].map((p) => ({
      name: p.name,
      file: p.file,
      nodes: p.nodes.map((n) => n.name),
      params: [...p.params.keys()],
      materialize: p.materialize?.to,
      copy: p.copy ? { to: p.copy.to, schedule: p.copy.schedule.text, settle: p.copy.settle } : undefined,
    })),
    endpoints: [...project.endpoints.values()].map((e) => ({
      name: e.name,
      file: e.file,
      pipe: e.pipe,
      formats: e.formats,
    })),
  };
}

function tree(io: Output, project: Project): string {
  const where = relative(process.cwd(), project.root) || '.';
  const lines = [paint(io, 'bold', `project ${where}`)];
  const ds = [...project.datasources.values()];
  // A data source a pipe fills is not one events come into, though the events API would take some;
  // one of aggregate states no pipe fills takes nothing (ingestion refuses it, Kafka or not).
  const writers = pipesFilling(project);
  const filledBy = (name: string) =>
    writers
      .get(name)
      ?.map((p) => `filled by ${p.name} (${p.materialize ? 'materialized' : 'copy'})`)
      .join(', ');
  const fillLabel = (d: DataSource) => {
    const by = filledBy(d.name);
    if (!by && d.columns.some((c) => isAggregateState(c.type))) return 'filled by nothing';
    return d.kafka ? `kafka: ${d.kafka.topic}` : (by ?? 'events API');
  };
  lines.push(`data sources (${ds.length})`);
  lines.push(
    indent(
      table(
        ds.map((d) => [
          d.name,
          d.engine.type,
          `${d.columns.length} columns`,
          fillLabel(d),
          d.dedupKey ? `dedup: ${d.dedupKey.join(', ')}` : '',
          d.versions ? `versions: ${d.versions.mappings.map((m) => m.version).join(', ')}` : '',
        ]),
      ),
    ),
  );
  const pipes = [...project.pipes.values()];
  lines.push(`pipes (${pipes.length})`);
  lines.push(
    indent(
      table(
        pipes.map((p) => [
          p.name,
          p.materialize
            ? `-> ${p.materialize.to} (materialized)`
            : p.copy
              ? `-> ${p.copy.to} (copy ${p.copy.schedule.text})`
              : plural(p.nodes.length, 'node'),
          [...p.params.values()]
            .filter((x) => !x.supplied)
            .map((x) => `${x.name}${x.required ? '*' : ''}: ${x.type.text}`)
            .join(', '),
        ]),
      ),
    ),
  );
  const eps = [...project.endpoints.values()];
  lines.push(`endpoints (${eps.length})`);
  lines.push(
    indent(
      table(
        eps.map((e) => [
          e.name,
          `/v0/pipes/${e.name}.{${e.formats.join(',')}}`,
          [
            e.cacheMs ? `cache ${e.cacheMs / 1000}s` : '',
            e.maxStalenessMs ? `max_staleness ${e.maxStalenessMs / 1000}s` : '',
            e.token ? `token ${e.token}` : '',
          ]
            .filter(Boolean)
            .join('  '),
        ]),
      ),
    ),
  );
  return lines.join('\n');
}

function indent(s: string): string {
  return s
    ? s
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n')
    : '  (none)';
}
