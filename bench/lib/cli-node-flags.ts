/**
 * The node flags the `tally` command runs with: those of bin/tally.js's shebang line
 * (`#!/usr/bin/env -S node <flags>`). A benchmark that runs Tally's code in a process of its
 * own gives it the same flags, so it measures what `npx tally` runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function cliNodeFlags(): string[] {
  const first = readFileSync(join(import.meta.dirname, '..', '..', 'bin', 'tally.js'), 'utf8').split(
    '\n',
    1,
  )[0]!;
  const m = /^#!\S*env(?: -S)? node(.*)$/.exec(first);
  if (!m) throw new Error(`bin/tally.js: unexpected first line ${JSON.stringify(first)}`);
  return m[1]!.split(' ').filter(Boolean);
}
