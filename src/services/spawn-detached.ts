import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export interface DetachedProcess {
  pid: number;
  /** Why the process ended while we watched it, or undefined while it runs. */
  exitReason(): string | undefined;
}

/**
 * Starts a server that outlives this process: its own process group, stdout and stderr appended
 * to `logFile`, and not kept in our event loop.
 */
export function spawnDetached(
  cmd: string,
  args: string[],
  opts: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
): DetachedProcess {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  let exit: string | undefined;
  try {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.on('error', (err) => {
      exit = `could not start: ${err.message}`;
    });
    child.on('exit', (code, signal) => {
      exit = signal ? `exited on ${signal}` : `exited with code ${code}`;
    });
    child.unref();
    if (child.pid === undefined) {
      // spawn reports ENOENT asynchronously; the pid is what tells us synchronously.
      return { pid: -1, exitReason: () => exit ?? 'could not start' };
    }
    return { pid: child.pid, exitReason: () => exit };
  } finally {
    closeSync(fd);
  }
}
