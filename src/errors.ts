/** Where in a project file something is (1-based line and column). */
export interface SourceLocation {
  file: string;
  line: number;
  col: number;
}

export interface TallyErrorOptions {
  location?: SourceLocation;
  /** What the user can do about it, when the message alone does not say. */
  hint?: string;
  /** 1: the user's input is wrong. 2: an internal or connection error. */
  exitCode?: 1 | 2;
  cause?: unknown;
  /** Facts a program reading `--json` output needs (the problems of a project, say). */
  details?: Record<string, unknown>;
}

/**
 * The one error type the CLI, loader and deploy throw: a stable code, a message a user can act
 * on, and where the problem is.
 */
export class TallyError extends Error {
  readonly code: string;
  readonly location?: SourceLocation;
  readonly hint?: string;
  readonly exitCode: 1 | 2;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, opts: TallyErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TallyError';
    this.code = code;
    if (opts.location) this.location = opts.location;
    if (opts.hint) this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
    if (opts.details) this.details = opts.details;
  }

  /** As one of the problems a check reports (an error), located here or at `fallback`. */
  toProblem(fallback?: SourceLocation): Problem {
    const location = this.location ?? fallback;
    return {
      severity: 'error',
      code: this.code,
      message: this.message,
      ...(location ? { location } : {}),
      ...(this.hint ? { hint: this.hint } : {}),
    };
  }

  /** `file:line:col: message (hint)`, the form editors and terminals make clickable. */
  format(): string {
    const where = this.location ? `${formatLocation(this.location)}: ` : '';
    return `${where}${this.message}${this.hint ? `\n  hint: ${this.hint}` : ''}`;
  }
}

export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.col}`;
}

/** A problem found while checking a project; many are collected and reported at once. */
export interface Problem {
  severity: 'error' | 'warning';
  code: string;
  message: string;
  location?: SourceLocation;
  hint?: string;
}

export function formatProblem(p: Problem): string {
  const where = p.location ? `${formatLocation(p.location)}: ` : '';
  return `${where}${p.severity}: ${p.message}${p.hint ? ` (${p.hint})` : ''} [${p.code}]`;
}

export function isTallyError(e: unknown): e is TallyError {
  return e instanceof TallyError;
}
