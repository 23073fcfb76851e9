import type { EventVersions, VersionMapping } from '../project/model.ts';
import { ExactNumber, type JsonValue } from '../util/exact-json.ts';
import { Refusal } from './coerce-value.ts';
import { decimalParts, decimalText } from './decimal-text.ts';
import { lookup } from './json-lookup.ts';

/** Picks, for one event, what was compiled for its version; a Refusal names the version seen. */
export type VersionSelector<T> = (event: JsonValue) => T | Refusal;

/**
 * Compiles the version dispatch of a data source once: `build` runs per known version here, and
 * each event then costs one lookup of its version field and one Map get.
 */
export function compileVersionSelector<T>(
  versions: EventVersions,
  build: (mapping: VersionMapping) => T,
): VersionSelector<T> {
  const byVersion = new Map<string, T>();
  for (const m of versions.mappings) byVersion.set(m.version, build(m));
  const field = versions.field.text;
  const path = versions.field.segments;
  const known = versions.mappings.map((m) => m.version).join(', ');
  const missing = versions.missing === undefined ? undefined : byVersion.get(versions.missing);
  const noVersion = new Refusal(
    `the event has no version at ${field} and versions.missing is not set (known versions: ${known})`,
  );
  return (event) => {
    const v = lookup(event, path);
    if (v instanceof Refusal) return v;
    if (v === undefined || v === null) return missing ?? noVersion;
    const text = versionText(v);
    const hit = text === undefined ? undefined : byVersion.get(text);
    if (hit !== undefined) return hit;
    return new Refusal(`unknown event version ${shown(v)} at ${field} (known versions: ${known})`);
  };
}

/** The event's version as the text versions are compared by: `1`, `1.0` and `"1"` are `1`. */
function versionText(v: JsonValue): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (v instanceof ExactNumber) {
    const p = decimalParts(v.text);
    return p && decimalText(p);
  }
  return undefined;
}

function shown(v: JsonValue): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (v instanceof ExactNumber) return v.text;
  if (v !== null && typeof v === 'object') return Array.isArray(v) ? '(an array)' : '(an object)';
  return String(v);
}
