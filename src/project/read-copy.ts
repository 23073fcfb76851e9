import type { Node } from 'yaml';
import { parseCron } from '../schedule/parse-cron.ts';
import type { YamlReader } from '../yaml/yaml-reader.ts';
import type { Copy } from './model.ts';

const COPY_KEYS = ['to', 'schedule', 'settle'];
/** Seconds an INSERT is assumed to take at most to commit, unless the pipe says otherwise. */
export const DEFAULT_SETTLE_SECONDS = 60;

/**
 * Reads `copy: { to, schedule, settle }` of a pipe; the target is checked by validateProject.
 * `to` is the target named, also when the rest was refused (the pipe still fills its namesake).
 */
export function readCopy(
  r: YamlReader,
  node: Node | null | undefined,
): { copy: Copy | undefined; to: string | undefined } {
  const m = r.map(node, '`copy`', COPY_KEYS);
  if (!m) return { copy: undefined, to: undefined };
  const toNode = m.require('to');
  const to = toNode === undefined ? undefined : r.string(toNode, 'copy.to (a data source name)');
  const scheduleNode = m.require('schedule');
  const text =
    scheduleNode === undefined
      ? undefined
      : r.string(scheduleNode, 'copy.schedule (a cron expression, @hourly or @daily)');
  let schedule: Copy['schedule'] | undefined;
  if (text !== undefined && scheduleNode) {
    const parsed = parseCron(text);
    if (parsed.ok) schedule = parsed.schedule;
    else {
      const start = r.file.contentStart(scheduleNode);
      r.problems.push({
        severity: 'error',
        code: 'invalid-schedule',
        message: `copy.schedule: ${parsed.message}`,
        location: { ...start, col: start.col + parsed.offset },
        hint: 'minute hour day-of-month month day-of-week, in UTC (e.g. `0 * * * *`), or @hourly / @daily',
      });
    }
  }
  let settle = DEFAULT_SETTLE_SECONDS;
  if (m.has('settle')) {
    // A bad value is reported; the default stands in so the other checks still run.
    settle = r.number(m.get('settle'), 'copy.settle (seconds)', { integer: true, min: 0 }) ?? settle;
  }
  if (to === undefined || !toNode || !schedule) return { copy: undefined, to };
  return { copy: { to, schedule, settle, loc: r.loc(toNode) }, to };
}
