import type { Command } from '../command.ts';
import { servicesCliCommand } from './services.ts';
import { sqlCommand } from './sql.ts';

/** Every `tally` command, in the order `tally --help` lists them. */
export const COMMANDS: readonly Command[] = [servicesCliCommand, sqlCommand];
