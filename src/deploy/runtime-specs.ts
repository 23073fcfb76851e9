/**
 * The runtime resources of a project: what of it no DDL carries, read from the files by the
 * processes that serve and ingest (`tally serve`, `tally dev`): endpoints, copy pipes, and each
 * data source's ingestion settings. Recorded per deploy in `tally_deployments` beside the
 * tables and views (keys `endpoint:<name>`, `copy:<pipe>`, `ingest:<data source>`), so the next
 * plan can say what of them changed (runtime-changes.ts). Plain JSON, without source locations
 * or descriptions: a change here is a change in what the product does.
 */
import type { DataSource, Endpoint, Param, Pipe, Project } from '../project/model.ts';
import { copyKey, endpointKey, ingestKey } from './plan-types.ts';

export interface NodeSpec {
  name: string;
  /** The SQL as written (the template). */
  sql: string;
}

export interface ParamSpec {
  type: string;
  required: boolean;
  default?: unknown;
  enum?: unknown[];
  min?: number;
  max?: number;
  requires?: string[];
}

export interface EndpointSpec {
  pipe: string;
  nodes: NodeSpec[];
  params: Record<string, ParamSpec>;
  /** The endpoint file's settings, under their YAML names. */
  settings: {
    token?: string;
    cache_ms?: number;
    max_staleness_ms?: number;
    limits: Endpoint['limits'];
    settings: Record<string, string | number>;
    formats: string[];
  };
}

export interface CopySpec {
  to: string;
  /** The cron expression as written. */
  schedule: string;
  settle: number;
  nodes: NodeSpec[];
  params: Record<string, ParamSpec>;
}

export interface IngestSpec {
  kafka?: { topic: string; group?: string; start: string };
  dedup_key?: string[];
  /** Where each column is read in the event; a column absent here is filled by its default. */
  json: Record<string, string>;
  /** `versions:` without source locations. */
  versions?: unknown;
}

export type RuntimeSpec = EndpointSpec | CopySpec | IngestSpec;

export type RuntimeKind = 'endpoint' | 'copy' | 'ingest';

const KINDS: readonly RuntimeKind[] = ['endpoint', 'copy', 'ingest'];

/** The kind and name of a runtime resource key; undefined for other keys (tables, views). */
export function runtimeKeyOf(key: string): { kind: RuntimeKind; name: string } | undefined {
  const colon = key.indexOf(':');
  const kind = key.slice(0, colon) as RuntimeKind;
  return colon > 0 && KINDS.includes(kind) ? { kind, name: key.slice(colon + 1) } : undefined;
}

/** Every runtime resource of the project by its key (endpoints are absent when not given). */
export function runtimeSpecsFor(
  project: Pick<Project, 'datasources' | 'pipes'> & Partial<Pick<Project, 'endpoints'>>,
): Record<string, RuntimeSpec> {
  const out: Record<string, RuntimeSpec> = {};
  for (const ds of project.datasources.values()) out[ingestKey(ds.name)] = ingestSpec(ds);
  for (const p of project.pipes.values()) if (p.copy) out[copyKey(p.name)] = copySpec(p);
  for (const e of project.endpoints?.values() ?? []) {
    const p = project.pipes.get(e.pipe);
    if (p) out[endpointKey(e.name)] = endpointSpec(e, p);
  }
  return out;
}

function endpointSpec(e: Endpoint, p: Pipe): EndpointSpec {
  return {
    pipe: e.pipe,
    nodes: nodeSpecs(p),
    params: paramSpecs(p),
    settings: {
      ...(e.token !== undefined ? { token: e.token } : {}),
      ...(e.cacheMs !== undefined ? { cache_ms: e.cacheMs } : {}),
      ...(e.maxStalenessMs !== undefined ? { max_staleness_ms: e.maxStalenessMs } : {}),
      limits: { ...e.limits },
      settings: { ...e.settings },
      formats: [...e.formats],
    },
  };
}

function copySpec(p: Pipe): CopySpec {
  const copy = p.copy!;
  return {
    to: copy.to,
    schedule: copy.schedule.text,
    settle: copy.settle,
    nodes: nodeSpecs(p),
    params: paramSpecs(p),
  };
}

function ingestSpec(ds: DataSource): IngestSpec {
  return {
    ...(ds.kafka
      ? {
          kafka: {
            topic: ds.kafka.topic,
            ...(ds.kafka.group !== undefined ? { group: ds.kafka.group } : {}),
            start: ds.kafka.start,
          },
        }
      : {}),
    ...(ds.dedupKey && ds.dedupKey.length > 0 ? { dedup_key: [...ds.dedupKey] } : {}),
    json: Object.fromEntries(ds.columns.flatMap((c) => (c.json ? [[c.name, c.json.text]] : []))),
    ...(ds.versions
      ? {
          versions: {
            field: ds.versions.field.text,
            ...(ds.versions.missing !== undefined ? { missing: ds.versions.missing } : {}),
            mappings: ds.versions.mappings.map((m) => ({
              version: m.version,
              columns: m.columns.map(({ loc, json, ...c }) => ({
                ...c,
                ...(json ? { json: json.text } : {}),
              })),
            })),
          },
        }
      : {}),
  };
}

function nodeSpecs(p: Pipe): NodeSpec[] {
  return p.nodes.map((n) => ({ name: n.name, sql: n.sql }));
}

/** The params a request may give (those Tally supplies to a copy pipe are its own business). */
function paramSpecs(p: Pipe): Record<string, ParamSpec> {
  const out: Record<string, ParamSpec> = {};
  for (const prm of p.params.values()) if (!prm.supplied) out[prm.name] = paramSpec(prm);
  return out;
}

function paramSpec(p: Param): ParamSpec {
  return {
    type: p.type.text,
    required: p.required,
    ...(p.default !== undefined ? { default: p.default } : {}),
    ...(p.enum ? { enum: [...p.enum] } : {}),
    ...(p.min !== undefined ? { min: p.min } : {}),
    ...(p.max !== undefined ? { max: p.max } : {}),
    ...(p.requires && p.requires.length > 0 ? { requires: [...p.requires] } : {}),
  };
}
