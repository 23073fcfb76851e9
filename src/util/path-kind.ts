import { lstatSync, statSync } from 'node:fs';

/** What a path holds, symbolic links followed; `broken-link` for a link to nothing (or a loop). */
export type PathKind = 'file' | 'folder' | 'missing' | 'broken-link' | 'special';

export function pathKind(path: string): PathKind {
  try {
    const st = statSync(path);
    return st.isFile() ? 'file' : st.isDirectory() ? 'folder' : 'special';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'broken-link';
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    try {
      lstatSync(path);
      return 'broken-link';
    } catch {
      return 'missing';
    }
  }
}

/**
 * Why something that should be a regular file is not one, as the end of a sentence naming it
 * ("tally.yaml is a folder, not a file"). A FIFO would block the read forever: refused too.
 */
export function notAFile(kind: Exclude<PathKind, 'file' | 'missing'>): string {
  switch (kind) {
    case 'folder':
      return 'is a folder, not a file';
    case 'broken-link':
      return 'is a symbolic link to nothing (its target is missing, or the links loop)';
    default:
      return 'is not a regular file (a pipe, socket or device)';
  }
}
