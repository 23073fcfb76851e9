import { formatProblem, isTallyError, type Problem, type TallyError } from '../errors.ts';

/** Where a command writes; injected so the CLI runs in-process in tests. */
export interface Output {
  out: (s: string) => void;
  err: (s: string) => void;
  color: boolean;
}

export function processOutput(): Output {
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  const out = closable(process.stdout);
  const err = closable(process.stderr);
  return {
    out: (s) => out(s.endsWith('\n') ? s : `${s}\n`),
    err: (s) => err(s.endsWith('\n') ? s : `${s}\n`),
    color: !noColor && Boolean(process.stdout.isTTY),
  };
}

/**
 * A writer to `stream` that goes quiet once the reader is gone (`tally test | head -1`): the
 * command still finishes and cleans up (a test run drops its database) instead of dying on EPIPE,
 * which Node reports as an 'error' event and which destroys the stream.
 */
function closable(stream: NodeJS.WriteStream): (s: string) => void {
  if (!quieted.has(stream)) {
    quieted.add(stream);
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
  return (s) => {
    if (!stream.destroyed) stream.write(s);
  };
}

const quieted = new WeakSet<NodeJS.WriteStream>();

const CODES = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1, cyan: 36 } as const;
export type Colour = keyof typeof CODES;

export function paint(o: Output, colour: Colour, s: string): string {
  return o.color ? `\u001b[${CODES[colour]}m${s}\u001b[0m` : s;
}

/** Left-aligned columns; widths from the widest cell. */
export function table(rows: readonly (readonly string[])[], header?: readonly string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const r of all) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(c));
    });
  }
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visibleLength(c))))
      .join('  ')
      .trimEnd();
  const out = all.map(line);
  if (header) out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return out.join('\n');
}

function visibleLength(s: string): number {
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

export function printProblems(o: Output, problems: readonly Problem[]): void {
  for (const p of problems) {
    const text = formatProblem(p);
    o.err(p.severity === 'error' ? paint(o, 'red', text) : paint(o, 'yellow', text));
  }
}

/** A failure as the CLI prints it on stderr: `error: <file:line:col: message>`, then its hint. */
export function printError(o: Output, err: TallyError): void {
  o.err(paint(o, 'red', `error: ${err.format()}`));
}

/**
 * The one JSON document a command that fails under `--json` prints on stdout:
 * `{ ok: false, error: { ...details, code, message, location?, hint? } }`. A TallyError gives its
 * own fields; anything else is a bug (`internal`).
 */
export function failureDocument(err: unknown): { ok: false; error: Record<string, unknown> } {
  if (!isTallyError(err)) {
    return { ok: false, error: { code: 'internal', message: String((err as Error)?.message ?? err) } };
  }
  const error = {
    ...err.details,
    code: err.code,
    message: err.message,
    ...(err.location ? { location: err.location } : {}),
    ...(err.hint ? { hint: err.hint } : {}),
  };
  return { ok: false, error };
}
