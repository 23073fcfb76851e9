/**
 * What of the runtime resources (runtime-specs.ts: endpoints, copy pipes, ingestion settings)
 * changed since the applied deployment, in short phrases: `SQL of node x changed`, `params
 * added: y`, `schedule @hourly -> @daily`, `dedup_key a -> a, b`. Pure: the plan calls it with
 * the project's specs and the recorded ones.
 *
 * A record written before runtime resources were recorded (it has none of their keys) is not
 * compared at all: every endpoint would show as added. The deploy records them, and the plans
 * after it compare.
 */
import { canonicalJson } from './hash.ts';
import {
  type CopySpec,
  type EndpointSpec,
  type IngestSpec,
  type NodeSpec,
  type ParamSpec,
  type RuntimeKind,
  runtimeKeyOf,
} from './runtime-specs.ts';

export interface RuntimeChange {
  /** `endpoint:balance`, `copy:balance_snapshots`, `ingest:transactions`. */
  key: string;
  kind: RuntimeKind;
  name: string;
  action: 'add' | 'change' | 'remove';
  /** What changed, one short phrase each. */
  what: string[];
  /** When the change takes effect, and what to do for it. */
  effect: string;
}

export interface RuntimeComparison {
  changes: RuntimeChange[];
  /** The record has no runtime resources (an older Tally wrote it): nothing was compared. */
  firstRecorded: boolean;
}

const EFFECT: Record<RuntimeKind, string> = {
  endpoint:
    'endpoint changes take effect when `tally serve` restarts (it reads the files at start; `tally dev` reloads on save)',
  copy: 'copy pipe changes take effect when `tally serve` restarts (it schedules them at start; `tally dev` reloads on save)',
  ingest:
    'ingestion changes take effect when `tally serve` restarts (ingesters read the settings at start; `tally dev` reloads on save)',
};

/** Why a new dedup_key needs every ingester restarted (docs/ingestion.md, "Tables Tally keeps"). */
export function dedupKeyEffect(datasource: string): string {
  return `dedup_key of ${datasource}: restart every \`tally serve\` that ingests it; once one runs with the new key, those still on the old key store nothing to ${datasource} (events answered 503) until restarted`;
}

const KIND_ORDER: readonly RuntimeKind[] = ['endpoint', 'copy', 'ingest'];

/**
 * The changes from `recorded` (the applied deployment's specs; undefined: none recorded) to
 * `wanted` (the project's). Other keys than runtime ones are ignored in both. A data source's
 * ingestion is compared only when both have it: a new or removed data source is a table step.
 */
export function compareRuntime(
  wanted: Readonly<Record<string, unknown>>,
  recorded: Readonly<Record<string, unknown>> | undefined,
): RuntimeComparison {
  const want = runtimeEntries(wanted);
  const had = runtimeEntries(recorded ?? {});
  if (recorded !== undefined && had.size === 0 && want.size > 0) return { changes: [], firstRecorded: true };
  const keys = [...new Set([...want.keys(), ...had.keys()])].sort(
    (a, b) =>
      KIND_ORDER.indexOf(runtimeKeyOf(a)!.kind) - KIND_ORDER.indexOf(runtimeKeyOf(b)!.kind) ||
      (a < b ? -1 : a > b ? 1 : 0),
  );
  const changes: RuntimeChange[] = [];
  for (const key of keys) {
    const { kind, name } = runtimeKeyOf(key)!;
    const after = want.get(key);
    const before = had.get(key);
    if (canonicalJson(after) === canonicalJson(before)) continue;
    const effect = EFFECT[kind];
    if (kind === 'ingest') {
      if (!after || !before) continue;
      const a = after as IngestSpec;
      const b = before as IngestSpec;
      const keyChanged = canonicalJson(a.dedup_key) !== canonicalJson(b.dedup_key);
      const what = ingestChanges(b, a);
      changes.push({
        key,
        kind,
        name,
        action: 'change',
        what,
        effect: keyChanged ? dedupKeyEffect(name) : effect,
      });
    } else if (!before) changes.push({ key, kind, name, action: 'add', what: ['added'], effect });
    else if (!after) changes.push({ key, kind, name, action: 'remove', what: ['removed'], effect });
    else {
      const what =
        kind === 'endpoint'
          ? endpointChanges(before as EndpointSpec, after as EndpointSpec)
          : copyChanges(before as CopySpec, after as CopySpec);
      changes.push({ key, kind, name, action: 'change', what, effect });
    }
  }
  return { changes, firstRecorded: false };
}

function runtimeEntries(specs: Readonly<Record<string, unknown>>): Map<string, unknown> {
  return new Map(Object.entries(specs).filter(([k]) => runtimeKeyOf(k) !== undefined));
}

function endpointChanges(b: EndpointSpec, a: EndpointSpec): string[] {
  return orChanged([
    ...valueChanges({ pipe: b.pipe }, { pipe: a.pipe }),
    ...nodeChanges(b.nodes ?? [], a.nodes ?? []),
    ...paramChanges(b.params ?? {}, a.params ?? {}),
    ...valueChanges(endpointSettings(b.settings), endpointSettings(a.settings)),
  ]);
}

function copyChanges(b: CopySpec, a: CopySpec): string[] {
  return orChanged([
    ...valueChanges(
      { target: b.to, schedule: b.schedule, settle: b.settle },
      { target: a.to, schedule: a.schedule, settle: a.settle },
    ),
    ...nodeChanges(b.nodes ?? [], a.nodes ?? []),
    ...paramChanges(b.params ?? {}, a.params ?? {}),
  ]);
}

function ingestChanges(b: IngestSpec, a: IngestSpec): string[] {
  const out: string[] = [];
  if (!b.kafka && a.kafka) out.push(`now read from Kafka topic ${a.kafka.topic}`);
  else if (b.kafka && !a.kafka) out.push(`no longer read from Kafka (topic ${b.kafka.topic})`);
  else if (b.kafka && a.kafka) {
    out.push(
      ...valueChanges(
        {
          'kafka topic': b.kafka.topic,
          'kafka group': b.kafka.group ?? 'default',
          'kafka start': b.kafka.start,
        },
        {
          'kafka topic': a.kafka.topic,
          'kafka group': a.kafka.group ?? 'default',
          'kafka start': a.kafka.start,
        },
      ),
    );
  }
  out.push(...valueChanges({ dedup_key: columns(b.dedup_key) }, { dedup_key: columns(a.dedup_key) }));
  const json = differingKeys(b.json ?? {}, a.json ?? {});
  if (json.length > 0) out.push(`json paths changed: ${json.join(', ')}`);
  if (canonicalJson(b.versions) !== canonicalJson(a.versions)) out.push('versions changed');
  return orChanged(out);
}

function nodeChanges(b: readonly NodeSpec[], a: readonly NodeSpec[]): string[] {
  const before = new Map(b.map((n) => [n.name, n.sql]));
  const after = new Map(a.map((n) => [n.name, n.sql]));
  const changed = a.filter((n) => before.has(n.name) && before.get(n.name) !== n.sql).map((n) => n.name);
  const added = a.filter((n) => !before.has(n.name)).map((n) => n.name);
  const removed = b.filter((n) => !after.has(n.name)).map((n) => n.name);
  const out: string[] = [];
  if (changed.length > 0) out.push(`SQL of ${names('node', changed)} changed`);
  if (added.length > 0) out.push(`${names('node', added)} added`);
  if (removed.length > 0) out.push(`${names('node', removed)} removed`);
  const order = (l: readonly NodeSpec[]) => l.map((n) => n.name).filter((n) => before.has(n) && after.has(n));
  if (out.length === 0 && order(b).join() !== order(a).join()) out.push('nodes reordered');
  return out;
}

function paramChanges(b: Record<string, ParamSpec>, a: Record<string, ParamSpec>): string[] {
  const added = Object.keys(a).filter((p) => !(p in b));
  const removed = Object.keys(b).filter((p) => !(p in a));
  const changed = Object.keys(a)
    .filter((p) => p in b && canonicalJson(a[p]) !== canonicalJson(b[p]))
    .map((p) => `${p} (${differingKeys(b[p]!, a[p]!).join(', ')})`);
  const out: string[] = [];
  if (added.length > 0) out.push(`params added: ${added.join(', ')}`);
  if (removed.length > 0) out.push(`params removed: ${removed.join(', ')}`);
  if (changed.length > 0) out.push(`params changed: ${changed.join(', ')}`);
  return out;
}

/** An endpoint's settings flattened under their file's names, with readable values. */
function endpointSettings(s: EndpointSpec['settings'] | undefined): Record<string, string | undefined> {
  if (!s) return {};
  const seconds = (ms: number | undefined) => (ms === undefined ? undefined : `${ms / 1000}s`);
  const limits = s.limits ?? {};
  return {
    token: s.token,
    cache: seconds(s.cache_ms),
    max_staleness: seconds(s.max_staleness_ms),
    'limits max_rows': limits.maxRows?.toString(),
    'limits max_bytes': limits.maxBytes?.toString(),
    'limits max_execution_time':
      limits.maxExecutionTime === undefined ? undefined : `${limits.maxExecutionTime}s`,
    'limits max_memory_usage': limits.maxMemoryUsage?.toString(),
    ...Object.fromEntries(Object.entries(s.settings ?? {}).map(([k, v]) => [`settings ${k}`, String(v)])),
    formats: (s.formats ?? []).join(', '),
  };
}

/** `name old -> new` for each differing value (`none` for a missing one). */
function valueChanges(
  b: Record<string, string | number | undefined>,
  a: Record<string, string | number | undefined>,
): string[] {
  return differingKeys(b, a).map((k) => `${k} ${show(b[k])} -> ${show(a[k])}`);
}

function show(v: string | number | undefined): string {
  return v === undefined || v === '' ? 'none' : String(v);
}

/** Keys of either object whose values differ, in `a`'s order and then `b`'s. */
function differingKeys(b: object, a: object): string[] {
  const bb = b as Record<string, unknown>;
  const aa = a as Record<string, unknown>;
  return [...new Set([...Object.keys(aa), ...Object.keys(bb)])].filter(
    (k) => canonicalJson(aa[k]) !== canonicalJson(bb[k]),
  );
}

/** `a`, or `(a, b)` for a key of several columns. */
function columns(list: readonly string[] | undefined): string | undefined {
  if (!list || list.length === 0) return undefined;
  return list.length === 1 ? list[0] : `(${list.join(', ')})`;
}

/** `node x`, `nodes x, y`. */
function names(noun: string, list: readonly string[]): string {
  return `${noun}${list.length === 1 ? '' : 's'} ${list.join(', ')}`;
}

/** A record that differs in a way no phrase names (an older layout of the spec) still says so. */
function orChanged(what: string[]): string[] {
  return what.length > 0 ? what : ['changed'];
}
