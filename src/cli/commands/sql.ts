import type { QueryResult } from '../../clickhouse/engine.ts';
import { loadConfig } from '../../config/load-config.ts';
import { TallyError } from '../../errors.ts';
import { loadProject } from '../../project/load-project.ts';
import { queryShape } from '../../sql/query-shape.ts';
import { ExactNumber, parseExactJson } from '../../util/exact-json.ts';
import { plural } from '../../util/plural.ts';
import type { Command } from '../command.ts';
import { openEngine, requireDatabase } from '../open.ts';
import { openProject, refuseNonProject } from '../open-project.ts';
import { paint, table } from '../output.ts';
import { expandPipeTables, parseParamFlags } from '../pipe-tables.ts';

export const sqlCommand: Command = {
  name: 'sql',
  summary: 'run a SQL query on the project database; pipe nodes read as tables (FROM pipe.node)',
  usage: 'tally sql "<query>" [--param k=v ...] [--format table|json|csv] [--compile] [--project DIR]',
  options: {
    format: { type: 'string', short: 'f' },
    param: { type: 'string', multiple: true },
    compile: { type: 'boolean' },
  },
  help: [
    'Runs on the configured ClickHouse (the embedded engine by default), in the project database;',
    'a database not deployed yet is refused (`tally deploy` creates it; `tally sql` creates nothing).',
    'A pipe node reads as a table: `SELECT * FROM balance.movements` runs the node `movements` of',
    'the pipe `balance` as a subquery, and `FROM balance` its last node.',
    '',
    '  --param k=v        a param of the pipes the query reads (repeat for more); `pipe.k=v` for one',
    '                     pipe only. Params not given take their default; a required one without a',
    '                     default takes a sample value of its type (said on stderr).',
    '  -f, --format F     table (default), json (the ClickHouse JSON answer) or csv (with a header)',
    '  --json             the same as --format json',
    '  --compile          print the query with the pipe nodes expanded; run nothing, create nothing',
    '',
    'Examples:',
    '  tally sql "SELECT count() FROM transactions"',
    '  tally sql "SELECT * FROM balance.movements" --param account_id=6ad87cf1',
    '  tally sql "SELECT * FROM active_subscriptions_from_events.current LIMIT 5" -f csv',
  ].join('\n'),
  async run(ctx) {
    const query = ctx.args.join(' ').trim();
    if (!query) {
      throw new TallyError(
        'bad-args',
        'tally sql needs a query, e.g. tally sql "SELECT count() FROM transactions"',
      );
    }
    const shape = queryShape(query);
    const statements = shape.statements;
    if (statements !== 1) {
      // Several would run one after the other with only the last one's answer shown (an INSERT
      // then a DROP said "ok"); none is a query of comments only.
      throw new TallyError(
        'bad-args',
        statements === 0
          ? 'tally sql got only comments: there is no statement to run'
          : `tally sql runs one statement; this has ${statements} (separated by \`;\`): run them one at a time`,
      );
    }
    const format = String(ctx.flags.format ?? (ctx.json ? 'json' : 'table'));
    if (!['table', 'json', 'csv'].includes(format)) {
      throw new TallyError('bad-flag', `--format must be table, json or csv (got \`${format}\`)`);
    }
    // Before anything opens a data folder there.
    refuseNonProject(ctx.projectDir);
    const params = parseParamFlags((ctx.flags.param as string[] | undefined) ?? []);
    // The project is needed only to expand pipe nodes: a broken one does not stop plain SQL.
    const project = needsProject(query, params.length)
      ? loadProject(ctx.projectDir, { env: ctx.env }).project
      : undefined;
    if (!project && params.length > 0) openProject(ctx); // prints the problems and stops
    if (!project && needsProject(query, 0)) {
      ctx.io.err(
        paint(
          ctx.io,
          'yellow',
          'note: the project has problems (see `tally check`); pipe nodes are not expanded',
        ),
      );
    }
    // Refused above when not a project: the config is read as it is. The database is never
    // created here: `--compile` needs only the server's version (for the dialect), and a query
    // on a database nothing was deployed to is refused below, naming it.
    const engine = await openEngine(project?.config ?? loadConfig(ctx.projectDir, { env: ctx.env }), {
      readThroughDev: true,
      createDatabase: false,
    });
    try {
      let sql = query;
      if (project) {
        const expanded = expandPipeTables(query, project, {
          capabilities: engine.capabilities,
          database: engine.database,
          params,
        });
        sql = expanded.sql;
        for (const u of expanded.uses) {
          for (const p of u.sampled) {
            ctx.io.err(
              paint(
                ctx.io,
                'yellow',
                `note: ${u.pipe}.${u.node} compiled with a sample value for the required param \`${p}\` (pass --param ${p}=...)`,
              ),
            );
          }
        }
      }
      if (ctx.flags.compile) {
        ctx.io.out(sql);
        return 0;
      }
      // Without it the session falls back to `default`: a table of the same name there would answer.
      await requireDatabase(engine);
      if (!shape.returnsRows) {
        // DDL and other statements answer nothing: a result format would be an empty body.
        const t0 = performance.now();
        await engine.command(sql);
        const ms = (performance.now() - t0).toFixed(1);
        ctx.io.out(format === 'json' ? JSON.stringify({ ok: true, ms: Number(ms) }) : `ok in ${ms} ms`);
      } else if (shape.ownFormat) {
        // The query names its own output format: ClickHouse's text, as it wrote it.
        ctx.io.out((await engine.text(sql, 'TabSeparatedWithNames')).trimEnd());
      } else if (format === 'csv') {
        ctx.io.out((await engine.text(sql, 'CSVWithNames')).trimEnd());
      } else if (format === 'json') {
        // ClickHouse's own text: parsing it would round a UInt64 past 2^53 or a Decimal(38).
        ctx.io.out((await engine.text(sql, 'JSON')).trimEnd());
      } else {
        // Read keeping every number's digits: a UInt64 or a Decimal(38) past 2^53 printed rounded.
        const res = parseExactJson(await engine.text(sql, 'JSON')) as QueryResult<Record<string, unknown>>;
        const names = res.meta.map((m) => m.name);
        ctx.io.out(
          table(
            res.data.map((r) => names.map((n) => cell((r as Record<string, unknown>)[n]))),
            names,
          ),
        );
        ctx.io.out(`${plural(res.rows, 'row')} in ${((res.statistics?.elapsed ?? 0) * 1000).toFixed(1)} ms`);
      }
      return 0;
    } finally {
      await engine.close();
    }
  },
};

/** What `tally sql` reads of a query, from one pass of the SQL lexer (strings and comments are no SQL). */
/** Whether the query may read a pipe: it has a FROM/JOIN/IN, or --param was given. */
function needsProject(query: string, params: number): boolean {
  return params > 0 || /\b(from|join|in)\b/i.test(query);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (v instanceof ExactNumber) return v.text;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
