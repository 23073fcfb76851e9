import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeProject } from '../unit/project/write-project.ts';
import { copyExample } from './example-copy.ts';

/**
 * A copy of the example project whose copy pipes settle after `settle` seconds instead of 60, so
 * a test can snapshot events it appended a few seconds before. Returns the folder.
 */
export function exampleWithSettle(settle: number, extra: Record<string, string> = {}): string {
  const dir = copyExample(writeProject(extra));
  for (const pipe of ['balance_snapshots', 'subscription_status_snapshots']) {
    const path = join(dir, 'pipes', `${pipe}.pipe.yaml`);
    const text = readFileSync(path, 'utf8');
    const changed = text.replace('schedule: "@hourly" }', `schedule: "@hourly", settle: ${settle} }`);
    if (changed === text) throw new Error(`no copy line to change in ${path}`);
    writeFileSync(path, changed);
  }
  return dir;
}
