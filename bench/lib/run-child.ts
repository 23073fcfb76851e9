import { spawn } from 'node:child_process';

export interface ChildRun {
  /** null when killed by a signal (a timeout). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface ChildOptions {
  cwd: string;
  /** Arguments to node before the script (`--cpu-prof`...). */
  nodeArgs?: string[];
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Each output line as it comes, for progress (stderr of the runner). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

/**
 * Runs a TypeScript script in its own node process (through tsx) and collects its output. The
 * child leads its own process group, so a timeout stops it and whatever it spawned (brokers it
 * reuses are not its children): SIGTERM, then SIGKILL 5 s later.
 */
export function runChild(script: string, args: readonly string[], opts: ChildOptions): Promise<ChildRun> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', script, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const lines = (stream: 'stdout' | 'stderr') => {
      let partial = '';
      return (chunk: string) => {
        if (stream === 'stdout') stdout += chunk;
        else stderr += chunk;
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop() ?? '';
        for (const l of parts) opts.onLine?.(l, stream);
      };
    };
    child.stdout.setEncoding('utf8').on('data', lines('stdout'));
    child.stderr.setEncoding('utf8').on('data', lines('stderr'));
    const kill = (signal: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    let hard: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      kill('SIGTERM');
      hard = setTimeout(() => kill('SIGKILL'), 5000);
    }, opts.timeoutMs);
    child.on('error', (err) => {
      stderr += `\n${err.message}`;
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (hard) clearTimeout(hard);
      // Whatever the child left behind in its group (a grandchild that outlived it).
      if (timedOut) kill('SIGKILL');
      resolve({ exitCode, signal, timedOut, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** The last non-empty line of a text, parsed as JSON when it is a JSON object. */
export function lastJsonLine(text: string): Record<string, unknown> | undefined {
  const lines = text.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (l === '') continue;
    if (!l.startsWith('{')) return undefined;
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
