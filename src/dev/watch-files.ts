import { relative } from 'node:path';

export interface WatchOptions {
  /** Wait this long after the last change before reloading (ms). */
  debounceMs?: number;
  onChange: (changed: string[]) => void | Promise<void>;
  onError?: (err: unknown) => void;
}

export interface Watcher {
  close(): Promise<void>;
  /** Resolves once the initial scan is done and changes are being reported. */
  ready: Promise<void>;
}

/** The project's files; NDJSON only as fixtures (a scratch file of events to append is not one). */
const WATCHED =
  /(\.datasource\.yaml|\.pipe\.yaml|\.endpoint\.yaml|\.test\.yaml|(^|[/\\])fixtures[/\\][^/\\]+\.ndjson|tally\.yaml)$/;

/**
 * Watches a project's files (chokidar, imported only here) and calls `onChange` once per burst
 * of saves, never twice at the same time: a change during a reload queues one more reload.
 */
export async function watchProject(root: string, opts: WatchOptions): Promise<Watcher> {
  const { watch } = await import('chokidar');
  const debounceMs = opts.debounceMs ?? 100;
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const flush = async (): Promise<void> => {
    if (running) return;
    const changed = [...pending];
    pending.clear();
    running = Promise.resolve()
      .then(() => opts.onChange(changed))
      .catch((err) => opts.onError?.(err))
      .finally(() => {
        running = undefined;
        if (pending.size > 0) schedule();
      });
    await running;
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void flush(), debounceMs);
  };

  const watcher = watch(root, {
    ignoreInitial: true,
    ignored: (path: string) =>
      /(^|[/\\])(node_modules|\.tally|\.git|dist)([/\\]|$)/.test(relative(root, path)),
    awaitWriteFinish: false,
  });
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  for (const event of ['add', 'change', 'unlink'] as const) {
    watcher.on(event, (path: string) => {
      const rel = relative(root, path);
      if (!WATCHED.test(rel)) return;
      pending.add(rel);
      schedule();
    });
  }
  watcher.on('error', (err) => opts.onError?.(err));
  return {
    ready,
    // After the reload in progress, if any: what stops next (the runtime) must not be half rebuilt.
    close: async () => {
      clearTimeout(timer);
      pending.clear();
      await watcher.close();
      await running;
    },
  };
}
