import type { Command } from '../command.ts';

/**
 * Every `tally` command, in the order `tally --help` lists them: its name and summary here, its
 * module loaded only when it runs, so a command pays for its own imports only (the server, the
 * file watcher, Kafka...). A test checks that each summary is its module's.
 */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'check',
    summary: 'load and validate the project, compile every node, and list every problem',
    load: async () => (await import('./check.ts')).checkCommand,
  },
  {
    name: 'deploy',
    summary: 'plan the project against ClickHouse and apply it (--check: only print the plan)',
    load: async () => (await import('./deploy-cli.ts')).deployCliCommand,
  },
  {
    name: 'dev',
    summary: 'deploy, serve the endpoints and hot-reload on every save',
    load: async () => (await import('./dev.ts')).devCommand,
  },
  {
    name: 'serve',
    summary: 'serve the endpoints in production mode (no watch; --deploy to deploy first)',
    load: async () => (await import('./dev.ts')).serveCommand,
  },
  {
    name: 'test',
    summary: 'run the endpoint tests (*.test.yaml) against the fixtures in a fresh database',
    load: async () => (await import('./test.ts')).testCommand,
  },
  {
    name: 'replay',
    summary:
      "recompute a materialized pipe's target from the whole log with the current logic; diff; --apply swaps it in",
    load: async () => (await import('./replay.ts')).replayCommand,
  },
  {
    name: 'snapshot',
    summary: 'run copy pipes once now (the snapshots `tally serve` and `tally dev` take on schedule)',
    load: async () => (await import('./snapshot.ts')).snapshotCommand,
  },
  {
    name: 'diff',
    summary:
      'answer an endpoint from a git revision and from the working tree on the same data; print the rows that differ',
    load: async () => (await import('./diff.ts')).diffCommand,
  },
  {
    name: 'append',
    summary: 'append events to a data source from a file or stdin (NDJSON or CSV)',
    load: async () => (await import('./append.ts')).appendCommand,
  },
  {
    name: 'quarantine',
    summary: 'show the events ingestion refused: counts per data source, or the latest with reasons',
    load: async () => (await import('./quarantine.ts')).quarantineCommand,
  },
  {
    name: 'sql',
    summary: 'run a SQL query on the project database; pipe nodes read as tables (FROM pipe.node)',
    load: async () => (await import('./sql.ts')).sqlCommand,
  },
  {
    name: 'init',
    summary: 'create a new project: a data source, a pipe, an endpoint, a test and a fixture',
    load: async () => (await import('./init.ts')).initCommand,
  },
  {
    name: 'services',
    summary: 'start, stop or show the local ClickHouse server and Kafka broker',
    load: async () => (await import('./services.ts')).servicesCliCommand,
  },
];
