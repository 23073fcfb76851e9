import { isAbsolute, relative, resolve } from 'node:path';

/**
 * A folder as messages show it: relative to the shell's folder when inside it (what a user can
 * paste back), else absolute (`../../tmp/x` for a project given with --project helps no one).
 */
export function shownPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, resolve(cwd, path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : resolve(cwd, path);
}
