import type { ParseArgsConfig } from 'node:util';
import type { Output } from './output.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  /** Absolute project folder (`--project`, default the current folder). */
  projectDir: string;
  json: boolean;
  io: Output;
  env: NodeJS.ProcessEnv;
  /** Positional arguments after the command name. */
  args: string[];
  /** Parsed flags of this command. */
  flags: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM); long-running commands wait on it. */
  stopSignal: AbortSignal;
  /** How the user ran tally (`npx tally`, `node bin/tally.js`...), for commands printed to be copied. */
  invokedAs: string;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Flags besides the global ones (--project, --json, --help). */
  options: OptionSpec;
  /** Longer help: what each flag does, examples. */
  help?: string;
  /** Takes no positional arguments: any is refused (`bad-args`) before the command runs. */
  noArgs?: true;
  run(ctx: CommandContext): Promise<number>;
}
