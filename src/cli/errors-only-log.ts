import type { LogSink } from '../server/logger.ts';
import { type Output, paint } from './output.ts';

/**
 * The log sink of `tally dev`: no request log, but an error entry (a 500's stack, a consumer
 * that crashed, a flush that failed) reaches the terminal as a line of text on stderr.
 */
export function errorsOnly(io: Output): LogSink {
  return (entry) => {
    if (entry.level !== 'error') return;
    const id = entry.id ? ` (request ${String(entry.id)})` : '';
    const cause = entry.error === undefined ? '' : `: ${String(entry.error)}`;
    // A request line: which request, and what it was answered.
    const what =
      entry.msg === 'request' && entry.path !== undefined
        ? `${String(entry.method)} ${String(entry.path)} answered ${String(entry.status)}`
        : String(entry.msg);
    io.err(paint(io, 'red', `error: ${what}${id}${cause}`));
  };
}
