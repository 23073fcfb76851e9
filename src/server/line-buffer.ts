/**
 * Log lines gathered and written together: one write per turn of the event loop instead of one
 * per line. `tally serve` logs every request, and a write to stdout (a pipe or a file) is a
 * system call each; under load the lines of many requests then share one.
 *
 * Lines wait at most until the current turn of the event loop ends (or until `maxBytes` are
 * waiting), and the process's `exit` flushes what is left, so a line is not lost on a normal
 * exit. Writing to stdout is synchronous for files and pipes on Linux, which `exit` needs.
 */
export interface LineBuffer {
  /** Queues one line (without its newline). */
  write(line: string): void;
  /** Writes what is queued now. */
  flush(): void;
  /** Flushes, and stops flushing on process exit. */
  close(): void;
}

export function lineBuffer(write: (chunk: string) => void, maxBytes = 256 * 1024): LineBuffer {
  let lines: string[] = [];
  let bytes = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (lines.length === 0) return;
    const chunk = `${lines.join('\n')}\n`;
    lines = [];
    bytes = 0;
    write(chunk);
  };
  process.on('exit', flush);
  return {
    write(line) {
      lines.push(line);
      bytes += line.length + 1;
      if (bytes >= maxBytes) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
    close() {
      flush();
      process.off('exit', flush);
    },
  };
}
