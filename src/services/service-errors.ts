import { TallyError } from '../errors.ts';
import { tailFile } from './log-tail.ts';
import type { PidRecord } from './pid-file.ts';
import { describeListener } from './port-probe.ts';

/**
 * A port held by a program that is not the service we expect: never reused, never stopped.
 * `setting` names the option that moves the service elsewhere.
 */
export async function portTakenError(
  service: string,
  host: string,
  port: number,
  setting: string,
  detail?: string,
): Promise<TallyError> {
  const what = detail ?? (await describeListener(host, port));
  return new TallyError(
    'SERVICE_PORT_TAKEN',
    `Port ${port} on ${host} is taken by ${what}, not ${service}.`,
    {
      hint: `stop that program, or set ${setting} to a free port`,
      exitCode: 2,
    },
  );
}

/** A server that did not come up: why, the command that was run, and the end of its logs. */
export function startFailedError(
  service: string,
  reason: string,
  command: string,
  logFiles: string[],
): TallyError {
  const sections = logFiles
    .map((file) => ({ file, tail: withoutStackFrames(tailFile(file, 200)) }))
    .filter((s) => s.tail.trim() !== '')
    .map((s) => `last lines of ${s.file}:\n${indent(s.tail)}`);
  const logs = sections.length > 0 ? sections.join('\n') : `(no log output in ${logFiles.join(', ')})`;
  return new TallyError(
    'SERVICE_START_FAILED',
    `${service} did not start: ${reason}.\ncommand: ${command}\n${logs}`,
    {
      exitCode: 2,
    },
  );
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** The last 20 lines without Java stack frames, which would hide the message that matters. */
function withoutStackFrames(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^\s+(at |\.\.\. \d+ more)/.test(l))
    .slice(-20)
    .join('\n');
}

/** Our server from an earlier `up` runs at another address, on this project's data folder. */
export function movedError(service: string, rec: PidRecord, address: string, setting: string): TallyError {
  return new TallyError(
    'SERVICE_MOVED',
    `Tally's ${service} from an earlier \`tally services up\` still runs at ${rec.address} (pid ${rec.pid}) on this project's data, and ${address} was asked for.`,
    { hint: `run \`tally services down\` first, or set ${setting} back to ${rec.address}`, exitCode: 1 },
  );
}
