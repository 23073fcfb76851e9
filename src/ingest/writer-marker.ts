/**
 * A file in the embedded data folder that says "a Tally process is writing events into this
 * database". Written when ingestion starts, removed when it stops cleanly; found at the next
 * start, it means the last writer died (kill -9, OOM, power cut). On the embedded back end that
 * death was also the engine's, possibly in the middle of an INSERT, between the table's part and
 * its views' parts: crash-recovery.ts then puts the marks and the views right.
 *
 *   const claim = claimWriterMarker(engine);   // undefined on a server back end
 *   if (claim?.unclean) await recoverAfterCrash(...);
 *   ...
 *   claim?.release();                          // after the last flush is stored
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../clickhouse/engine.ts';

export interface WriterClaim {
  /** The marker was there and no ingestion of this process held it: the last writer died. */
  readonly unclean: boolean;
  /** What the marker said about the dead writer, for the log. */
  readonly previous?: { pid?: number; startedAt?: string };
  readonly path: string;
  /**
   * Removes the marker once no ingestion of this process holds it. Idempotent. `keep`: the
   * claim ends but the marker stays (a recovery failed: the next start must try again).
   */
  release(opts?: { keep?: boolean }): void;
}

/** Ingestions of this process per marker file: a reload starts one while another stops. */
const holders = new Map<string, number>();

export function writerMarkerPath(dataPath: string, database: string): string {
  return join(dataPath, `tally-writer-${database}.json`);
}

/** Claims the marker of the engine's database; undefined when the engine is not embedded. */
export function claimWriterMarker(engine: Engine): WriterClaim | undefined {
  if (engine.backend !== 'embedded' || !engine.dataPath) return undefined;
  const path = writerMarkerPath(engine.dataPath, engine.database);
  const held = holders.get(path) ?? 0;
  let previous: WriterClaim['previous'];
  const found = existsSync(path);
  if (found) {
    try {
      previous = JSON.parse(readFileSync(path, 'utf8')) as WriterClaim['previous'];
    } catch {
      previous = {}; // cut short by the crash itself: still a crash
    }
  }
  // A live other process with the marker is a writer, not a crash (chDB lets one process open
  // a folder, so this is a pid reused after a crash, or a folder shared by mistake): never
  // recompute under a writer.
  const unclean = found && held === 0 && !isOtherLiveProcess(previous?.pid);
  holders.set(path, held + 1);
  writeFileSync(path, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }));
  let released = false;
  return {
    unclean,
    ...(previous ? { previous } : {}),
    path,
    release(opts = {}) {
      if (released) return;
      released = true;
      const left = (holders.get(path) ?? 1) - 1;
      if (left > 0) {
        holders.set(path, left);
        return;
      }
      holders.delete(path);
      if (!opts.keep) rmSync(path, { force: true });
    },
  };
}

function isOtherLiveProcess(pid: number | undefined): boolean {
  if (typeof pid !== 'number' || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
