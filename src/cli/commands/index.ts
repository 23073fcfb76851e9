import type { Command } from '../command.ts';
import { appendCommand } from './append.ts';
import { checkCommand } from './check.ts';
import { deployCliCommand } from './deploy-cli.ts';
import { devCommand, serveCommand } from './dev.ts';
import { diffCommand } from './diff.ts';
import { initCommand } from './init.ts';
import { quarantineCommand } from './quarantine.ts';
import { replayCommand } from './replay.ts';
import { servicesCliCommand } from './services.ts';
import { snapshotCommand } from './snapshot.ts';
import { sqlCommand } from './sql.ts';
import { testCommand } from './test.ts';

/** Every `tally` command, in the order `tally --help` lists them. */
export const COMMANDS: readonly Command[] = [
  checkCommand,
  deployCliCommand,
  devCommand,
  serveCommand,
  testCommand,
  replayCommand,
  snapshotCommand,
  diffCommand,
  appendCommand,
  quarantineCommand,
  sqlCommand,
  initCommand,
  servicesCliCommand,
];
