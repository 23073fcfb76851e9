/**
 * Where a process spent its CPU: self time per function and per module group (Tally's src/,
 * each package under node_modules, node's internals), from the .cpuprofile files that
 * `node --cpu-prof` writes (`npm run bench -- --cpu-prof --only <id>` puts them under
 * .tally/bench-profiles/<id>/).
 *
 *   npx tsx bench/lib/cpu-profile-summary.ts <file.cpuprofile | folder> [--top 25]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Busy time: everything except (idle), (program) and (garbage collector) apart. */
  busyMs: number;
  gcMs: number;
  byFunction: Array<{ name: string; where: string; ms: number }>;
  byGroup: Array<{ group: string; ms: number }>;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  const fn = new Map<string, { name: string; where: string; ms: number }>();
  const group = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  for (const [id, ms] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    if (f.functionName === '(garbage collector)') gc += ms;
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}@${where}`;
    const e = fn.get(key) ?? { name: f.functionName || '(anonymous)', where, ms: 0 };
    e.ms += ms;
    fn.set(key, e);
    const g = groupOf(f.url, f.functionName);
    group.set(g, (group.get(g) ?? 0) + ms);
  }
  const totalMs = (p.endTime - p.startTime) / 1000;
  return {
    file,
    totalMs,
    busyMs: totalMs - idle,
    gcMs: gc,
    byFunction: [...fn.values()].sort((a, b) => b.ms - a.ms).slice(0, top),
    byGroup: [...group.entries()].map(([g, ms]) => ({ group: g, ms })).sort((a, b) => b.ms - a.ms),
  };
}

function shortUrl(url: string): string {
  const i = url.indexOf('/node_modules/');
  if (i >= 0) return url.slice(i + 1);
  const s = url.indexOf('/src/');
  if (s >= 0) return url.slice(s + 1);
  const b = url.indexOf('/bench/');
  if (b >= 0) return url.slice(b + 1);
  return url.replace(/^file:\/\//, '');
}

function groupOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.includes('/src/')) return `tally ${/\/src\/([^/]+)/.exec(url)?.[1] ?? ''}/`;
  if (url.includes('/bench/')) return 'bench/';
  if (url.startsWith('node:')) return 'node internals';
  return url;
}

function profileFiles(path: string): string[] {
  if (statSync(path).isDirectory()) {
    return readdirSync(path, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(path, f));
  }
  return [path];
}

if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) {
  const args = process.argv.slice(2);
  const top = args.includes('--top') ? Number(args[args.indexOf('--top') + 1]) : 25;
  const paths = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--top');
  for (const file of paths.flatMap((p) => profileFiles(resolve(p)))) {
    const s = summarizeProfile(file, top);
    console.log(
      `\n${s.file}: ${s.totalMs.toFixed(0)} ms wall, ${s.busyMs.toFixed(0)} ms busy, GC ${s.gcMs.toFixed(0)} ms`,
    );
    console.log('  by module group (self time):');
    for (const g of s.byGroup.slice(0, 12))
      console.log(
        `    ${g.ms.toFixed(0).padStart(7)} ms  ${((g.ms / s.busyMs) * 100).toFixed(1).padStart(5)}%  ${g.group}`,
      );
    console.log('  by function (self time):');
    for (const f of s.byFunction) console.log(`    ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`);
  }
}
