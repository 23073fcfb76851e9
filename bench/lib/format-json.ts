import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Formats a written JSON file the way the repository's formatter (biome) wants it, so a
 * committed results file passes `npm run lint`. Best effort: without biome the file stays as
 * JSON.stringify wrote it.
 */
export function formatJsonFile(repo: string, file: string): void {
  const biome = join(repo, 'node_modules', '.bin', 'biome');
  if (!existsSync(biome)) return;
  spawnSync(biome, ['format', '--write', file], { cwd: repo, stdio: 'ignore', timeout: 30_000 });
}
