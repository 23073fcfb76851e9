/**
 * The tally.yaml at the top of docs/reference/tally-yaml.md is what users copy first: it must
 * load, on the example project, without a problem (it once named a token `admin`, which the
 * same page forbids).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadProject } from '../../../src/project/load-project.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('the first example of docs/reference/tally-yaml.md loads on the example project without a problem', () => {
  const page = readFileSync(join(REPO, 'docs', 'reference', 'tally-yaml.md'), 'utf8');
  const example = /```yaml\n([\s\S]*?)```/.exec(page)?.[1];
  expect(example).toContain('tokens:');
  const dir = mkdtempSync(join(tmpdir(), 'tally-doc-example-'));
  dirs.push(dir);
  for (const d of ['datasources', 'pipes', 'endpoints', 'fixtures'])
    cpSync(join(REPO, d), join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'tally.yaml'), example!);
  const env = {
    TALLY_ADMIN_TOKEN: 'a'.repeat(24),
    DASHBOARD_TOKEN: 'b'.repeat(24),
    INGEST_TOKEN: 'c'.repeat(24),
  };
  const r = loadProject(dir, { env });
  expect(r.problems.map((p) => `${p.location?.file}:${p.location?.line}: ${p.message}`)).toEqual([]);
  expect(r.project?.config.tokens.map((t) => t.name)).toEqual(['ops', 'dashboard', 'ingest']);
});
