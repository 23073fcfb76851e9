import { quoteIdent } from '../../clickhouse/create-engine.ts';
import type { Engine } from '../../clickhouse/engine.ts';
import { QUARANTINE_SUFFIX, quarantineTableName } from '../../clickhouse/quarantine-schema.ts';
import { TallyError } from '../../errors.ts';
import { loadProject } from '../../project/load-project.ts';
import { pipesFilling } from '../../project/pipes-filling.ts';
import { quoteString } from '../../sql/render-literal.ts';
import { didYouMean } from '../../util/did-you-mean.ts';
import { plural } from '../../util/plural.ts';
import type { Command } from '../command.ts';
import { openConfig, openDeployedEngine } from '../open.ts';
import { paint, table } from '../output.ts';

/** The terminal view's raw event; --json gives it whole, for a script to fix and append again. */
const RAW_SHOWN = 160;
/** The summary table's reason column (the whole reason is in --json and in the detail view). */
const REASON_SHOWN = 40;

interface Summary {
  datasource: string;
  total: number;
  last_24h: number;
  latest: string | null;
  top_reason: string | null;
}

interface Refused {
  received_at: string;
  source: string;
  where: string;
  columns: string[];
  reason: string;
  raw: string;
}

export const quarantineCommand: Command = {
  name: 'quarantine',
  summary: 'show the events ingestion refused: counts per data source, or the latest with reasons',
  usage: 'tally quarantine [<data source>] [--limit N] [--project DIR] [--json]',
  options: { limit: { type: 'string', short: 'n' } },
  help: [
    'Reads the `<data source>_quarantine` tables of the project database (configured ClickHouse, the',
    'embedded engine by default).',
    '',
    '  (no data source)   per data source: refused events in all, in the last 24 h, the latest time',
    '                     and the most frequent reason',
    '  <data source>      its latest refused events: when, where from (Kafka partition/offset or',
    '                     request id), the failing columns, every reason, and the raw event (cut',
    '                     at 160 characters; whole with --json)',
    '  -n, --limit N      how many events to show (default 20)',
    '',
    'Examples:',
    '  tally quarantine',
    '  tally quarantine transactions -n 5',
  ].join('\n'),
  async run(ctx) {
    if (ctx.args.length > 1) {
      throw new TallyError(
        'bad-args',
        `tally quarantine takes one data source; unexpected \`${ctx.args.slice(1).join(' ')}\``,
      );
    }
    const limit = Number(ctx.flags.limit ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new TallyError(
        'bad-flag',
        `--limit must be a whole number from 1 to 10000 (got \`${String(ctx.flags.limit)}\`)`,
      );
    }
    const engine = await openDeployedEngine(openConfig(ctx), { readThroughDev: true });
    try {
      const tables = await quarantineTables(engine);
      const wanted = ctx.args[0];
      if (wanted === undefined) {
        const summaries: Summary[] = [];
        for (const ds of tables) summaries.push(await summarize(engine, ds));
        if (ctx.json) {
          ctx.io.out(JSON.stringify({ datasources: summaries }, null, 2));
          return 0;
        }
        if (summaries.length === 0) {
          ctx.io.out(`no quarantine tables in database ${engine.database}: run \`tally deploy\` first`);
          return 0;
        }
        // A table a pipe fills takes no events unless someone posts to it: its empty quarantine
        // is noise in the list (still in --json, and shown as soon as it holds a row).
        // The project is read only for this: a broken one lists every table, as the database has them.
        const project = loadProject(ctx.projectDir, { env: ctx.env }).project;
        const filled = project ? pipesFilling(project) : new Map();
        const quiet = summaries.filter((s) => s.total === 0 && filled.has(s.datasource));
        const shown = summaries.filter((s) => !quiet.includes(s));
        ctx.io.out(
          table(
            shown.map((s) => [
              s.datasource,
              String(s.total),
              String(s.last_24h),
              s.latest ?? '-',
              s.top_reason === null ? '-' : short(s.top_reason, REASON_SHOWN),
            ]),
            ['data source', 'refused', 'last 24 h', 'latest (UTC)', 'most frequent reason'],
          ),
        );
        if (quiet.length > 0) {
          ctx.io.out(
            paint(
              ctx.io,
              'dim',
              `not listed, nothing refused: ${quiet.map((s) => s.datasource).join(', ')} (filled by pipes, not by events)`,
            ),
          );
        }
        return 0;
      }
      if (!tables.includes(wanted)) {
        throw new TallyError(
          'unknown-datasource',
          `no quarantine table for \`${wanted}\` in database ${engine.database}${didYouMean(wanted, tables)}`,
          {
            hint:
              tables.length > 0 ? `data sources with one: ${tables.join(', ')}` : 'run `tally deploy` first',
          },
        );
      }
      const summary = await summarize(engine, wanted);
      const rows = await latest(engine, wanted, limit, { whole: ctx.json });
      if (ctx.json) {
        ctx.io.out(JSON.stringify({ ...summary, events: rows }, null, 2));
        return 0;
      }
      ctx.io.out(
        `${wanted}: ${plural(summary.total, 'refused event')}, ${summary.last_24h} in the last 24 h`,
      );
      for (const r of rows) {
        ctx.io.out('');
        ctx.io.out(
          `${paint(ctx.io, 'bold', r.received_at)}  ${r.source} ${r.where}${r.columns.length > 0 ? `  columns: ${r.columns.join(', ')}` : ''}`,
        );
        for (const line of r.reason.split('\n')) ctx.io.out(`  ${paint(ctx.io, 'red', line)}`);
        ctx.io.out(`  raw: ${r.raw}`);
      }
      return 0;
    } finally {
      await engine.close();
    }
  },
};

/** Data sources with a quarantine table in the database, by name. */
async function quarantineTables(engine: Engine): Promise<string[]> {
  const rows = await engine.rows<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = ${quoteString(engine.database)} AND endsWith(name, ${quoteString(QUARANTINE_SUFFIX)}) ORDER BY name`,
  );
  return rows.map((r) => r.name.slice(0, -QUARANTINE_SUFFIX.length)).filter((n) => n.length > 0);
}

function tableOf(engine: Engine, datasource: string): string {
  return `${quoteIdent(engine.database)}.${quoteIdent(quarantineTableName(datasource))}`;
}

async function summarize(engine: Engine, datasource: string): Promise<Summary> {
  const t = tableOf(engine, datasource);
  const [counts] = await engine.rows<{ total: string; day: string; latest: string }>(
    `SELECT count() AS total, countIf(received_at >= now() - 86400) AS day, toString(max(received_at)) AS latest FROM ${t}`,
  );
  const total = Number(counts?.total ?? 0);
  const [top] =
    total > 0
      ? await engine.rows<{ r: string }>(
          `SELECT splitByChar('\\n', reason)[1] AS r, count() AS n FROM ${t} GROUP BY r ORDER BY n DESC, r LIMIT 1`,
        )
      : [];
  return {
    datasource,
    total,
    last_24h: Number(counts?.day ?? 0),
    latest: total > 0 ? (counts?.latest ?? null) : null,
    top_reason: top?.r ?? null,
  };
}

async function latest(
  engine: Engine,
  datasource: string,
  limit: number,
  opts: { whole: boolean },
): Promise<Refused[]> {
  // Cut in the query too, when cut: a refused event can be megabytes, and the view shows 160 characters.
  const raw = opts.whole ? 'raw' : `substring(raw, 1, ${RAW_SHOWN * 4}) AS raw`;
  const rows = await engine.rows<{
    received_at: string;
    source: string;
    topic: string;
    partition: number | string;
    offset: number | string;
    request_id: string;
    columns: string[];
    reason: string;
    raw: string;
  }>(
    `SELECT toString(received_at) AS received_at, source, topic, partition, offset, request_id, columns, reason, ${raw} FROM ${tableOf(engine, datasource)} ORDER BY received_at DESC, offset DESC LIMIT ${limit}`,
  );
  return rows.map((r) => ({
    received_at: r.received_at,
    source: r.source,
    where:
      r.source === 'kafka'
        ? `${r.topic}[${r.partition}]@${r.offset}`
        : r.request_id
          ? `request ${r.request_id}`
          : '',
    columns: r.columns,
    reason: r.reason,
    raw: opts.whole ? r.raw : cut(r.raw),
  }));
}

function cut(raw: string): string {
  const chars = [...raw];
  return chars.length > RAW_SHOWN ? `${chars.slice(0, RAW_SHOWN).join('')}… (cut)` : raw;
}

function short(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}
