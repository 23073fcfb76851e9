import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isTallyError, TallyError } from '../errors.ts';
import { closest } from '../util/did-you-mean.ts';
import type { Command, CommandContext, OptionSpec } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import { invokedAs } from './invoked-as.ts';
import { failureDocument, type Output, paint, printError, processOutput } from './output.ts';

const GLOBAL_OPTIONS: OptionSpec = {
  project: { type: 'string', short: 'p' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export interface RunOptions {
  io?: Output;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stopSignal?: AbortSignal;
  /** How the user ran tally, as printed in commands to copy; default from process.argv (cli/invoked-as.ts). */
  invokedAs?: string;
}

/**
 * The `tally` entry point. Takes argv (without node and script) so tests run it in-process;
 * returns the exit code: 0 ok, 1 user error, 2 internal or connection error.
 */
export async function runMain(argv: string[], opts: RunOptions = {}): Promise<number> {
  const io = opts.io ?? processOutput();
  const [name, ...rest] = commandFirst(argv);
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const asked = rest[0];
    if (name === 'help' && asked !== undefined && !COMMANDS.some((c) => c.name === asked)) {
      return refusedArgv(io, rest, unknownCommand(asked));
    }
    io.out(await usage(asked));
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.out('tally 0.1.0');
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) return refusedArgv(io, rest, unknownCommand(name));
  const command = await entry.load();

  let parsed: ReturnType<typeof parseArgs>;
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    const message = flagError(err, options);
    return refusedArgv(
      io,
      rest,
      new TallyError('bad-flag', message),
      `${message}\n\n${commandUsage(command)}`,
    );
  }
  if (parsed.values.help) {
    io.out(commandUsage(command));
    return 0;
  }
  if (command.noArgs && parsed.positionals.length > 0) {
    // `tally check extra`: a forgotten --project, or a flag without its dashes; not ignored.
    const message = `tally ${command.name} takes no arguments; unexpected \`${parsed.positionals.join(' ')}\``;
    return refusedArgv(
      io,
      rest,
      new TallyError('bad-args', message),
      `${message}\n\n${commandUsage(command)}`,
    );
  }

  // In-process callers (tests) pass their own signal; the CLI listens to SIGINT/SIGTERM for
  // this run only, so repeated runs in one process do not pile up listeners.
  const signals = opts.stopSignal ? undefined : processStopSignal();
  try {
    return await runCommand(command, io, {
      projectDir: resolve(opts.cwd ?? process.cwd(), String(parsed.values.project ?? '.')),
      json: Boolean(parsed.values.json),
      env: opts.env ?? process.env,
      args: parsed.positionals,
      flags: parsed.values,
      stopSignal: opts.stopSignal ?? signals!.signal,
      invokedAs: opts.invokedAs ?? invokedAs(process.argv[1], process.cwd()),
    });
  } finally {
    signals?.dispose();
  }
}

/**
 * Global flags written before the command (`tally -p DIR check`, `tally --json deploy`) are moved
 * after it, where they are read; the command's own flags must follow it.
 */
function commandFirst(argv: string[]): string[] {
  const lead: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json' || a.startsWith('--project=')) lead.push(a);
    else if ((a === '-p' || a === '--project') && i + 1 < argv.length) lead.push(a, argv[++i]!);
    else break;
  }
  if (lead.length === 0 || i >= argv.length) return argv;
  return [argv[i]!, ...lead, ...argv.slice(i + 1)];
}

const LEADING_FLAGS = ['--version', '--help', '--project', '--json', '-v', '-h', '-p'];

function unknownCommand(name: string): TallyError {
  if (LEADING_FLAGS.includes(name)) {
    return new TallyError(
      'unknown-command',
      `\`${name}\` without a command; run \`tally --help\` for the list`,
    );
  }
  if (name.startsWith('-')) {
    const guess = closest(name, LEADING_FLAGS);
    return new TallyError(
      'bad-flag',
      `unknown flag \`${name}\`${guess ? ` (did you mean \`${guess}\`?)` : ''}; a command's flags go after it: tally <command> [flags]`,
    );
  }
  const guess = closest(
    name,
    COMMANDS.map((c) => c.name),
  );
  return new TallyError(
    'unknown-command',
    `unknown command \`${name}\`${guess ? ` (did you mean \`${guess}\`?)` : ''}; run \`tally --help\` for the list`,
  );
}

/**
 * A command line refused before any command runs: `text` on stderr, and with --json (looked for
 * in the raw arguments, which did not parse) the error as one document on stdout. Exit 1.
 */
function refusedArgv(io: Output, argv: readonly string[], err: TallyError, text = err.message): number {
  if (argv.includes('--json')) io.out(JSON.stringify(failureDocument(err)));
  // `error:` first, as every other refusal prints it (the usage after it, when given, is help).
  io.err(`error: ${text}`);
  return 1;
}

/**
 * Runs a parsed command: its exit code, or, when it throws, the error on stderr (and with
 * --json as one document on stdout, unless the command already printed its own).
 */
export async function runCommand(
  command: Command,
  io: Output,
  context: Omit<CommandContext, 'io'>,
): Promise<number> {
  // A command that printed its JSON document and failed after (closing a connection, say) must
  // not print a second one.
  let printed = false;
  const watched: Output = {
    ...io,
    out: (text) => {
      printed = true;
      io.out(text);
    },
  };
  const ctx: CommandContext = { ...context, io: watched };
  try {
    return await command.run(ctx);
  } catch (err) {
    // With --json a script reads stdout: the failure is there too, as one JSON document.
    if (ctx.json && !printed) io.out(JSON.stringify(failureDocument(err)));
    if (isTallyError(err)) {
      printError(io, err);
      return err.exitCode;
    }
    io.err(paint(io, 'red', `internal error: ${(err as Error)?.stack ?? String(err)}`));
    return 2;
  }
}

/** Aborts on the first SIGINT/SIGTERM; a second one exits at once. */
function processStopSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    // The reason is the signal's name, for a command that logs why it stops.
    controller.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function flagError(err: unknown, options: OptionSpec): string {
  const message = String((err as Error)?.message ?? err);
  const m = /Unknown option '(-{1,2})([^']+)'/.exec(message);
  if (m) {
    const guess = closest(m[2]!, Object.keys(options));
    return `unknown flag \`${m[1]}${m[2]}\`${guess ? ` (did you mean \`--${guess}\`?)` : ''}`;
  }
  const dash = /Option '(-{1,2}[^']+)' argument is ambiguous/.exec(message);
  if (dash) {
    // `--sample -1`: node's parser takes `-1` for a flag; say how to pass it.
    return `${dash[1]} needs a value; one that starts with a dash is written ${dash[1]}=-1`;
  }
  return message.split('\n')[0] ?? message;
}

async function usage(commandName?: string): Promise<string> {
  const entry = commandName ? COMMANDS.find((c) => c.name === commandName) : undefined;
  if (entry) return commandUsage(await entry.load());
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'tally: event-sourced data products from a folder of YAML',
    '',
    'Usage: tally <command> [--project DIR] [--json] [flags]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global flags:',
    '  -p, --project DIR  the project folder (default: the current folder)',
    '      --json         machine-readable output',
    '  -h, --help         help for a command: tally <command> --help',
    '  -v, --version      the version of Tally',
    '',
    'Exit codes: 0 ok, 1 a problem in your project or input, 2 an internal or connection error',
    '(or ClickHouse refused a query).',
  ].join('\n');
}

function commandUsage(c: Command): string {
  return [
    `tally ${c.name}: ${c.summary}`,
    '',
    `Usage: ${c.usage}`,
    ...(c.help ? ['', c.help] : []),
    '',
    GLOBAL_HELP,
  ].join('\n');
}

const GLOBAL_HELP = [
  'Every command also takes:',
  '  -p, --project DIR  the project folder (default: the current folder)',
  '  --json             machine-readable output: one JSON document on stdout',
].join('\n');
