/**
 * Where a running `tally dev` / `tally serve` on the embedded engine can be reached. chDB lets
 * one process open a data folder, so other commands on the same folder (`tally append`) go
 * through that process's HTTP API instead; the server may listen on any port (`--port`,
 * `--port 0`), so it writes its URL beside the folder it holds: `<data folder>.server.json`.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface ServerFile {
  pid: number;
  url: string;
  /** What `tally dev`'s engine route asks for (server/engine-route.ts); absent for `tally serve`. */
  secret?: string;
}

export function serverFilePath(dataPath: string): string {
  return `${resolve(dataPath)}.server.json`;
}

export function writeServerFile(dataPath: string, url: string, secret?: string): void {
  const body: ServerFile = { pid: process.pid, url, ...(secret ? { secret } : {}) };
  const file = serverFilePath(dataPath);
  // Written afresh and readable by its owner only: it may hold the engine route's secret.
  rmSync(file, { force: true });
  writeFileSync(file, `${JSON.stringify(body)}\n`, { mode: 0o600 });
}

/** Removes the file if this process wrote it (another server may have replaced it since). */
export function removeServerFile(dataPath: string): void {
  const file = serverFilePath(dataPath);
  if (readServerFile(file)?.pid === process.pid) rmSync(file, { force: true });
}

/** The URL of the live process that holds `dataPath`, if it wrote one; a dead writer's file is ignored. */
export function serverUrlFor(dataPath: string): string | undefined {
  return liveServer(dataPath)?.url;
}

/** The URL and engine-route secret of the live `tally dev` that holds `dataPath`, if it wrote them. */
export function devServerFor(dataPath: string): { url: string; secret: string } | undefined {
  const found = liveServer(dataPath);
  return found?.secret ? { url: found.url, secret: found.secret } : undefined;
}

function liveServer(dataPath: string): ServerFile | undefined {
  const found = servingProcess(dataPath);
  return found && alive(found.pid) ? found : undefined;
}

/** The pid and URL a server wrote for `dataPath`, alive or not. */
export function servingProcess(dataPath: string): ServerFile | undefined {
  return readServerFile(serverFilePath(dataPath));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readServerFile(file: string): ServerFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ServerFile>;
    return typeof parsed.pid === 'number' && typeof parsed.url === 'string'
      ? {
          pid: parsed.pid,
          url: parsed.url,
          ...(typeof parsed.secret === 'string' ? { secret: parsed.secret } : {}),
        }
      : undefined;
  } catch {
    return undefined;
  }
}
