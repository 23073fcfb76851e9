import { checkServerFits } from '../../deploy/deploy.ts';
import type { Command } from '../command.ts';
import { openEngine } from '../open.ts';
import { openProject } from '../open-project.ts';
import { deployCommand } from './deploy.ts';

export const deployCliCommand: Command = {
  name: 'deploy',
  noArgs: true,
  summary: 'plan the project against ClickHouse and apply it (--check: only print the plan)',
  usage: 'tally deploy [--check] [--allow-destructive] [--json] [--project DIR]',
  options: { check: { type: 'boolean' }, 'allow-destructive': { type: 'boolean' } },
  help: [
    '  --check              print the plan (create, alter, rebuild, view, backfill, drop, unchanged) and change nothing',
    '  --allow-destructive  allow steps that lose data (dropping a data source, a rebuild that drops a column or converts values that do not fit the new type)',
    'Deploys to the configured ClickHouse: the embedded engine by default, or clickhouse.url / TALLY_CLICKHOUSE_URL.',
  ].join('\n'),
  async run(ctx) {
    const project = openProject(ctx);
    const check = Boolean(ctx.flags.check);
    // --check changes nothing, not even the database's existence; a project the server cannot
    // hold (a type it lacks) is refused before the database is created.
    const engine = await openEngine(project.config, {
      createDatabase: !check,
      beforeCreatingDatabase: (capabilities) => checkServerFits(project, capabilities),
    });
    try {
      return await deployCommand({
        project,
        engine,
        check,
        json: ctx.json,
        allowDestructive: Boolean(ctx.flags['allow-destructive']),
        out: ctx.io.out,
        err: ctx.io.err,
      });
    } finally {
      await engine.close();
    }
  },
};
