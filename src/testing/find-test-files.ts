import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_FILE_SUFFIX } from './test-file.ts';

/** Folders never searched: dependencies, Tally's own data, version control. */
const SKIP = new Set(['node_modules', '.tally', '.git']);

/**
 * Every `*.test.yaml` under the project root (paths relative to it, `/`-separated, sorted).
 * Hidden folders are skipped, and so is a subfolder with its own `tally.yaml`: another project.
 */
export function findTestFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(rel === '' ? root : join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    if (rel !== '' && entries.some((e) => e.isFile() && e.name === 'tally.yaml')) return;
    for (const e of entries) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (!SKIP.has(e.name) && !e.name.startsWith('.')) walk(path);
      } else if (e.isFile() && e.name.endsWith(TEST_FILE_SUFFIX)) out.push(path);
    }
  };
  walk('');
  return out.sort();
}
