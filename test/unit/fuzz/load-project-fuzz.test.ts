// Fuzzing of the YAML loader: random mutations of the example project's files (byte flips,
// deleted / duplicated lines, swapped indentation, truncation, random keys, huge values). The
// loader must never throw, every problem must carry file:line:col, and a project is returned
// exactly when no problem is an error. Seeded, so a failure names a case that can be replayed.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProject } from '../../../src/project/load-project.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';
import { mulberry32, type Rng } from './rng.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const FOLDERS = ['datasources', 'pipes', 'endpoints'];

function exampleFiles(): Record<string, string> {
  const files: Record<string, string> = { 'tally.yaml': readFileSync(join(ROOT, 'tally.yaml'), 'utf8') };
  for (const dir of FOLDERS) {
    for (const name of readdirSync(join(ROOT, dir))) {
      if (name.endsWith('.yaml') && !name.endsWith('.test.yaml')) {
        files[`${dir}/${name}`] = readFileSync(join(ROOT, dir, name), 'utf8');
      }
    }
  }
  return files;
}

const RANDOM_KEYS = [
  'columns',
  'nodes',
  'params',
  'engine',
  'pipe',
  'token',
  'sql',
  'type',
  'name',
  '<<',
  '&a',
  '*a',
  '!!binary',
  '? x',
  '- -',
  '"',
  "'",
  '{',
  '[',
  '}',
  ']',
  '%YAML 1.1',
  '---',
  '...',
];
const HUGE = [
  'x'.repeat(1_000_000),
  '9'.repeat(5000),
  '['.repeat(2000),
  '{a: '.repeat(500),
  '- '.repeat(3000),
];

type Mutation = (text: string, rng: Rng) => string;

const MUTATIONS: Record<string, Mutation> = {
  byteFlip(text, rng) {
    const b = Buffer.from(text, 'utf8');
    if (b.length === 0) return text;
    for (let n = 1 + rng.int(4); n > 0; n--) b[rng.int(b.length)] = rng.int(256);
    return b.toString('latin1');
  },
  deleteLine(text, rng) {
    const lines = text.split('\n');
    lines.splice(rng.int(lines.length), 1 + rng.int(3));
    return lines.join('\n');
  },
  duplicateLine(text, rng) {
    const lines = text.split('\n');
    const i = rng.int(lines.length);
    lines.splice(i, 0, ...lines.slice(i, i + 1 + rng.int(3)));
    return lines.join('\n');
  },
  swapIndent(text, rng) {
    const lines = text.split('\n');
    const i = rng.int(lines.length);
    const j = rng.int(lines.length);
    const indent = (s: string) => /^\s*/.exec(s)?.[0] ?? '';
    const a = lines[i] ?? '';
    const b = lines[j] ?? '';
    lines[i] = indent(b) + a.trimStart();
    lines[j] = indent(a) + b.trimStart();
    return lines.join('\n');
  },
  tabs(text) {
    return text.replace(/^ {2}/gm, '\t');
  },
  truncate(text, rng) {
    return text.slice(0, rng.int(text.length + 1));
  },
  randomKey(text, rng) {
    const lines = text.split('\n');
    const key = rng.pick(RANDOM_KEYS);
    const indent = ' '.repeat(rng.int(3) * 2);
    lines.splice(
      rng.int(lines.length + 1),
      0,
      `${indent}${key}: ${rng.pick(['1', '', 'null', '[]', '{}', 'x', key])}`,
    );
    return lines.join('\n');
  },
  hugeValue(text, rng) {
    const lines = text.split('\n');
    const i = rng.int(lines.length);
    const line = lines[i] ?? '';
    const colon = line.indexOf(': ');
    lines[i] = colon >= 0 ? `${line.slice(0, colon + 2)}${rng.pick(HUGE)}` : line + rng.pick(HUGE);
    return lines.join('\n');
  },
  empty() {
    return '';
  },
  binary(_text, rng) {
    return rng.bytes(1 + rng.int(2000)).toString('latin1');
  },
  invalidUtf8(text, rng) {
    const b = Buffer.from(text, 'utf8');
    const at = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), b.subarray(at)]).toString(
      'latin1',
    );
  },
};
const NAMES = Object.keys(MUTATIONS);

const CASES = 150;

describe('fuzz: loadProject on mutated example files', () => {
  const base = exampleFiles();
  const paths = Object.keys(base);
  const dir = writeProject(base);
  afterAll(() => removeProjects());

  it('the unmutated example loads without errors (the baseline)', () => {
    const { project, problems } = loadProject(dir);
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(project).toBeDefined();
  });

  it(`${CASES} seeded mutations: never throws, every problem located, project iff no error`, () => {
    const stats = { cases: 0, withErrors: 0, loaded: 0 };
    for (let seed = 1; seed <= CASES; seed++) {
      const rng = mulberry32(seed);
      const touched: string[] = [];
      for (let k = 1 + rng.int(2); k > 0; k--) {
        const file = rng.pick(paths);
        const mutation = rng.pick(NAMES);
        const before = readFileSync(join(dir, file), 'latin1');
        const after = (MUTATIONS[mutation] as Mutation)(before, rng);
        writeFileSync(join(dir, file), Buffer.from(after, 'latin1'));
        touched.push(`${file}:${mutation}`);
      }
      const label = `seed ${seed} (${touched.join(', ')})`;
      let result: ReturnType<typeof loadProject>;
      try {
        result = loadProject(dir);
      } catch (e) {
        throw new Error(`${label}: loadProject threw ${(e as Error).stack}`);
      }
      const errors = result.problems.filter((p) => p.severity === 'error');
      for (const p of result.problems) {
        const loc = p.location;
        if (!loc?.file || !(loc.line >= 1) || !(loc.col >= 1)) {
          throw new Error(`${label}: problem without a location: ${JSON.stringify(p).slice(0, 300)}`);
        }
      }
      expect(result.project !== undefined, label).toBe(errors.length === 0);
      stats.cases++;
      if (errors.length > 0) stats.withErrors++;
      else stats.loaded++;
      // Restore the files for the next case.
      for (const file of paths) writeFileSync(join(dir, file), base[file] as string);
    }
    expect(stats.cases).toBe(CASES);
    expect(stats.withErrors).toBeGreaterThan(CASES / 3);
  }, 60_000);

  it('a project folder with files that are not readable as text, or directories named like files', () => {
    const odd = writeProject({ ...base, 'pipes/dir.pipe.yaml/x': 'a' });
    const { problems } = loadProject(odd);
    // The folder named like a pipe file is an error at its path, not skipped without a word.
    expect(problems.map((p) => [p.code, p.location?.file])).toContainEqual([
      'unreadable-file',
      expect.stringMatching(/pipes\/dir\.pipe\.yaml$/),
    ]);
    for (const p of problems) expect(p.location, JSON.stringify(p)).toBeDefined();
    rmSync(join(odd, 'pipes', 'dir.pipe.yaml'), { recursive: true, force: true });
  });
});
