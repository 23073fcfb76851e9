/**
 * docs/reference/pipe.md lists the problems `tally check` reports for a pipe file: a code the
 * checks gained and the list did not (`dedup-read`, `final-unsupported`) left a user with a
 * warning the reference did not explain. Codes are read from the checks' source, as they are written.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..', '..');
/** The checks whose problems are a pipe file's. */
const SOURCES = ['src/project/read-pipe.ts', 'src/project/check-dedup-reads.ts'];

/** `{ code: 'x' ... }`, `severity: 'warning', code: 'x'`, `r.error(node, 'x', ...)`, `r.warn(node, 'x', ...)`. */
function reportedCodes(source: string): Map<string, 'error' | 'warning'> {
  const codes = new Map<string, 'error' | 'warning'>();
  const re =
    /(?:(severity: '(?:error|warning)',\s*)?code: |r\.(error|warn)\(\s*[^,()]+(?:\([^)]*\))?,\s*)'([a-z]+(?:-[a-z]+)+)'/g;
  for (const m of source.matchAll(re)) {
    const warning = m[1]?.includes('warning') || m[2] === 'warn';
    codes.set(m[3]!, warning ? 'warning' : 'error');
  }
  return codes;
}

it('docs/reference/pipe.md lists every problem code the pipe checks report, warnings marked as such', () => {
  const page = readFileSync(join(REPO, 'docs', 'reference', 'pipe.md'), 'utf8');
  const section = page.split('## Problems reported')[1]?.split('\n## ')[0] ?? '';
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  const rowOf = (code: string) =>
    rows.find((r) => r.split(' | ')[0]!.includes(`\`${code}\``)) ??
    rows.find((r) => r.split(' | ')[0]!.includes(`\`${code.split('-')[0]}-*\``));
  const codes = new Map(SOURCES.flatMap((f) => [...reportedCodes(readFileSync(join(REPO, f), 'utf8'))]));
  expect([...codes.keys()]).toEqual(expect.arrayContaining(['dedup-read', 'final-unsupported']));
  for (const [code, severity] of codes) {
    const row = rowOf(code);
    expect(row, `${code} is not in the Problems reported table`).toBeDefined();
    if (!row!.includes('`*') && !row!.includes('-*`')) {
      expect(row!.split(' | ')[0]!.includes('(warning)'), `${code} is a ${severity}`).toBe(
        severity === 'warning',
      );
    }
  }
});
