import type { Command } from '../command.ts';
import { checkCommand } from './check.ts';
import { deployCliCommand } from './deploy-cli.ts';
import { devCommand, serveCommand } from './dev.ts';
import { servicesCliCommand } from './services.ts';
import { sqlCommand } from './sql.ts';
import { testCommand } from './test.ts';

/** Every `tally` command, in the order `tally --help` lists them. */
export const COMMANDS: readonly Command[] = [
  checkCommand,
  deployCliCommand,
  devCommand,
  serveCommand,
  servicesCliCommand,
  sqlCommand,
  testCommand,
];
