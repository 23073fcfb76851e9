import type { Command } from '../command.ts';
import { openConfig, openEngine } from '../open.ts';
import { table } from '../output.ts';

export const sqlCommand: Command = {
  name: 'sql',
  summary: 'run a SQL query on the project database and print the result',
  usage: 'tally sql "<query>" [--format table|json|csv] [--project DIR]',
  options: { format: { type: 'string', short: 'f' } },
  help: 'Runs on the configured ClickHouse (the embedded engine by default), in the project database.',
  async run(ctx) {
    const query = ctx.args.join(' ').trim();
    if (!query) {
      ctx.io.err('tally sql needs a query, e.g. tally sql "SELECT count() FROM transactions"');
      return 1;
    }
    const format = String(ctx.flags.format ?? (ctx.json ? 'json' : 'table'));
    if (!['table', 'json', 'csv'].includes(format)) {
      ctx.io.err(`--format must be table, json or csv (got \`${format}\`)`);
      return 1;
    }
    const engine = await openEngine(openConfig(ctx));
    try {
      if (format === 'csv') {
        ctx.io.out((await engine.text(query, 'CSVWithNames')).trimEnd());
      } else {
        const res = await engine.query(query);
        if (format === 'json') ctx.io.out(JSON.stringify(res, null, 2));
        else {
          const names = res.meta.map((m) => m.name);
          ctx.io.out(
            table(
              res.data.map((r) => names.map((n) => cell((r as Record<string, unknown>)[n]))),
              names,
            ),
          );
          ctx.io.out(
            `${res.rows} row${res.rows === 1 ? '' : 's'} in ${((res.statistics?.elapsed ?? 0) * 1000).toFixed(1)} ms`,
          );
        }
      }
      return 0;
    } finally {
      await engine.close();
    }
  },
};

function cell(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
