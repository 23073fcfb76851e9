import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder Tally itself is installed in (holds services/ and docker-compose.yml): as
 * bin/tally.js found it, else the nearest folder above this module with bin/tally.js. This module is src/services/package-root.ts, or a
 * chunk of the command's bundle under node_modules/.cache/tally-cli/<build>/ (bin/cli-bundle.js).
 */
export function tallyRoot(): string {
  // Set by bin/tally.js: the command's own idea, right even when node_modules is a link.
  const given = (globalThis as Record<symbol, unknown>)[Symbol.for('tally.root')];
  if (typeof given === 'string') return given;
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here, i = 0; i < 8; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'tally.js'))) return dir;
  }
  return resolve(here, '..', '..');
}
