/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: every line must be
 * a HELP, a TYPE or a sample of a declared family, label values must be properly escaped, and
 * histograms must have cumulative buckets ending in +Inf equal to _count.
 */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedMetrics {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: ParsedSample[];
  /** The value of the one sample matching name and labels (a subset), or undefined. */
  get(name: string, labels?: Record<string, string>): number | undefined;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;

export function parsePrometheus(text: string): ParsedMetrics {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: ParsedSample[] = [];
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    if (line.startsWith('# HELP ')) {
      const [name, ...rest] = line.slice(7).split(' ');
      help.set(name!, rest.join(' '));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type!))
        throw new Error(`line ${i + 1}: type ${type}`);
      if (types.has(name!)) throw new Error(`line ${i + 1}: ${name} declared twice`);
      types.set(name!, type!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`line ${i + 1} is not a sample: ${JSON.stringify(line)}`);
    const name = m[1]!;
    const family = [...types.keys()].find(
      (f) =>
        name === f ||
        (types.get(f) === 'histogram' &&
          /^(_bucket|_sum|_count)$/.test(name.slice(f.length)) &&
          name.startsWith(f)),
    );
    if (!family) throw new Error(`line ${i + 1}: ${name} has no TYPE before it`);
    const labels: Record<string, string> = {};
    let rest = m[3] ?? '';
    while (rest.length > 0) {
      const l = LABEL.exec(rest);
      if (!l) throw new Error(`line ${i + 1}: bad labels ${JSON.stringify(m[3])}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      rest = rest.slice(l[0].length);
    }
    const raw = m[4]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (raw !== 'NaN' && Number.isNaN(value)) throw new Error(`line ${i + 1}: value ${raw}`);
    samples.push({ name, labels, value });
  }
  checkHistograms(types, samples);
  return {
    types,
    help,
    samples,
    get(name, labels = {}) {
      const found = samples.filter(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      );
      if (found.length > 1)
        throw new Error(`${found.length} samples match ${name} ${JSON.stringify(labels)}`);
      return found[0]?.value;
    },
  };
}

function checkHistograms(types: Map<string, string>, samples: ParsedSample[]): void {
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const groups = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
    for (const s of samples) {
      if (!s.name.startsWith(family)) continue;
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      const g = groups.get(key) ?? { buckets: [] };
      groups.set(key, g);
      if (s.name === `${family}_bucket`) g.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
      if (s.name === `${family}_count`) g.count = s.value;
    }
    for (const [key, g] of groups) {
      const last = g.buckets.at(-1);
      if (!last || last[0] !== Infinity) throw new Error(`${family}${key}: no +Inf bucket`);
      if (last[1] !== g.count) throw new Error(`${family}${key}: +Inf bucket ${last[1]} != count ${g.count}`);
      for (let i = 1; i < g.buckets.length; i++) {
        const [a, b] = [g.buckets[i - 1]!, g.buckets[i]!];
        if (!(a[0] < b[0]) || a[1] > b[1]) throw new Error(`${family}${key}: buckets not cumulative`);
      }
    }
  }
}
