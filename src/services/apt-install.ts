import { TallyError } from '../errors.ts';
import { tailLines } from './log-tail.ts';
import { type CommandResult, findExecutable, formatCommand, runCommand } from './run-command.ts';
import type { ProgressLog } from './service.ts';

export interface AptRequest<T> {
  /** Prefix of the progress lines, e.g. `clickhouse`. */
  label: string;
  /** Packages to install; the first one is the one whose candidate version is checked. */
  packages: string[];
  /** Extra `apt-get install` options, e.g. `--no-install-recommends`. */
  options?: string[];
  /** What we need, when it is in place: looked for after installing, whatever apt-get's exit code. */
  find: () => T | undefined;
}

/** Whether this process may install Debian packages: root, with apt-get on the PATH. */
export function canAptInstall(): boolean {
  return process.getuid?.() === 0 && findExecutable('apt-get') !== undefined;
}

/**
 * Installs Debian packages with apt-get, refreshing the package lists first when they have no
 * candidate (a fresh machine) and once more when the install fails with lists that did (stale
 * lists naming a version the mirror no longer serves). Success is `find()` finding it, not apt-get's exit
 * code: a package's postinst may fail to start its system service (no systemd, policy-rc.d)
 * although the files we need are in place.
 */
export async function aptInstall<T>(request: AptRequest<T>, log: ProgressLog): Promise<T> {
  const { label, packages } = request;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const policy = await runCommand('apt-cache', ['policy', packages[0] ?? ''], { env, timeoutMs: 60_000 });
  const candidate = /Candidate:\s*(\S+)/.exec(policy.stdout)?.[1];
  const listsKnowIt = candidate !== undefined && candidate !== '(none)';
  if (!listsKnowIt) {
    log(`${label}: apt-get update (no ${packages[0]} candidate in the package lists yet)`);
    await aptUpdate(label, env, log);
  }
  log(`${label}: installing ${packages.join(', ')} with apt-get (first run only)`);
  const install = ['install', '-y', ...(request.options ?? []), ...packages];
  let res = await runCommand('apt-get', install, { env, timeoutMs: 15 * 60_000 });
  let found = request.find();
  if (found === undefined && listsKnowIt) {
    log(`${label}: install failed with the current package lists; apt-get update and one more try`);
    await aptUpdate(label, env, log);
    res = await runCommand('apt-get', install, { env, timeoutMs: 15 * 60_000 });
    found = request.find();
  }
  if (found === undefined) {
    // Exit 0 with nothing in place: a package that no longer ships what we look for.
    if (res.code === 0)
      res = { ...res, stderr: `${res.stderr}\n(apt-get succeeded, but ${label} is still not installed)` };
    throw aptFailed(install, res);
  }
  if (res.code !== 0) log(`${label}: apt-get reported an error after installing; continuing`);
  return found;
}

/**
 * `apt-get update`. Its failure is logged, not thrown: it exits non-zero when any one source
 * fails (a stale third-party repository), while the lists that matter may well have been read;
 * the install after it decides.
 */
async function aptUpdate(label: string, env: NodeJS.ProcessEnv, log: ProgressLog): Promise<void> {
  const res = await runCommand('apt-get', ['update'], { env, timeoutMs: 15 * 60_000 });
  if (res.code !== 0) {
    log(`${label}: \`apt-get update\` failed (exit ${res.code ?? 'timeout'}); trying the install anyway:`);
    log(tailLines(res.stdout + res.stderr, 5));
  }
}

function aptFailed(args: string[], res: CommandResult): TallyError {
  return new TallyError(
    'SERVICE_INSTALL_FAILED',
    `\`${formatCommand('apt-get', args)}\` failed (exit ${res.code ?? 'timeout'}):\n${tailLines(res.stdout + res.stderr, 20)}`,
    { exitCode: 2 },
  );
}
