import { isScalar, type Node } from 'yaml';
import { didYouMean } from '../util/did-you-mean.ts';
import type { YamlReader } from '../yaml/yaml-reader.ts';
import { checkValue } from './check-value.ts';
import type { Column, ColumnMapping, EventVersions, VersionMapping } from './model.ts';
import {
  baseType,
  decimalShape,
  isAggregateState,
  isDecimalType,
  isIntegerType,
  isNumericType,
} from './parse-type.ts';
import { readJsonPath } from './read-json-path.ts';

const VERSIONS_KEYS = ['field', 'missing', 'mappings'];
const MAPPING_KEYS = ['json', 'default', 'shift'];
const METADATA = /^__(topic|partition|offset|timestamp|key|headers)$/;
/** Beyond this no ClickHouse number type has digits left (Decimal256 has 76). */
const MAX_SHIFT = 76;

/**
 * Reads `versions:` of a data source: where the event carries its version, and per known version
 * how its fields map onto the columns. Every problem is reported; undefined when the block is
 * unusable (the data source then has no versions, and the file has an error anyway).
 */
export function readVersions(
  r: YamlReader,
  node: Node | null | undefined,
  columns: readonly Column[],
  brokenColumns: ReadonlySet<string>,
): EventVersions | undefined {
  const m = r.map(node, '`versions`', VERSIONS_KEYS);
  if (!m) return undefined;
  const fieldNode = m.require('field');
  const field = fieldNode === undefined ? undefined : readJsonPath(r, fieldNode, undefined);
  if (field && field.segments.length === 0) {
    r.error(fieldNode, 'invalid-json-path', '`versions.field` must name a field of the event, not `$`');
  }

  const mappings: VersionMapping[] = [];
  const mappingsNode = m.require('mappings');
  if (mappingsNode !== undefined) {
    const seen = new Map<string, number>();
    const entries = r.namedMap(mappingsNode, '`versions.mappings`');
    if (entries.length === 0 && mappingsNode) {
      r.error(mappingsNode, 'invalid-value', '`versions.mappings` needs at least one version');
    }
    for (const { keyNode, value } of entries) {
      const version = versionText(r, keyNode);
      if (version === undefined) continue;
      const first = seen.get(version);
      if (first !== undefined) {
        r.error(keyNode, 'duplicate-version', `version ${version} is mapped twice (first on line ${first})`);
        continue;
      }
      seen.set(version, r.loc(keyNode).line);
      mappings.push({
        version,
        columns: readMapping(r, version, value, columns, brokenColumns),
        loc: r.loc(keyNode),
      });
    }
  }

  const known = mappings.map((v) => v.version);
  let missing: string | undefined;
  if (m.has('missing')) {
    const missingNode = m.get('missing');
    const text = isScalar(missingNode) ? versionText(r, missingNode) : undefined;
    if (!isScalar(missingNode))
      r.error(missingNode, 'expected-scalar', '`versions.missing` must be a version');
    else if (text !== undefined && !known.includes(text)) {
      r.error(
        missingNode,
        'unknown-version',
        `\`versions.missing\` is ${text}, which is not a mapped version${didYouMean(text, known)}`,
        `mapped versions: ${known.join(', ') || 'none'}`,
      );
    } else missing = text;
  }
  if (!field || field.segments.length === 0 || mappingsNode === undefined) return undefined;
  return { field, ...(missing !== undefined ? { missing } : {}), mappings, loc: r.loc(node) };
}

/** A version key as text: an integer (`1`) or a string (`v1`, `"2"`); both compare as text. */
function versionText(r: YamlReader, node: Node): string | undefined {
  const v = isScalar(node) ? node.value : undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v === 'string' && v.trim() !== '' && v.trim() === v) return v;
  r.error(node, 'invalid-value', 'a version is an integer such as 2 or a string such as v2');
  return undefined;
}

function readMapping(
  r: YamlReader,
  version: string,
  node: Node | null,
  columns: readonly Column[],
  brokenColumns: ReadonlySet<string>,
): ColumnMapping[] {
  // `2:` with nothing after it, like `2: {}`: every column as declared.
  if (node === null || (isScalar(node) && node.value === null)) return [];
  const out: ColumnMapping[] = [];
  const names = columns.filter((c) => !METADATA.test(c.name)).map((c) => c.name);
  for (const { name, keyNode, value } of r.namedMap(node, `the mapping of version ${version}`)) {
    const col = columns.find((c) => c.name === name);
    if (!col || METADATA.test(name)) {
      if (!brokenColumns.has(name)) {
        r.error(
          keyNode,
          'unknown-column',
          col
            ? `version ${version} maps \`${name}\`, which is filled from the Kafka message, not from the event`
            : `version ${version} maps unknown column \`${name}\`${didYouMean(name, names)}`,
          `columns: ${names.join(', ')}`,
        );
      }
      continue;
    }
    const what = `\`${name}\` in version ${version}`;
    const em = r.map(value, what, MAPPING_KEYS);
    if (!em) continue;
    const mapping: ColumnMapping = { column: name, loc: r.loc(keyNode) };
    if (em.has('json')) {
      const json = readJsonPath(r, em.get('json'), col.type);
      if (json) mapping.json = json;
    }
    if (em.has('default')) {
      const dn = em.get('default');
      const checked = checkValue(col.type, r.plain(dn), { strictStrings: true });
      if (checked.ok) mapping.defaultValue = checked.value;
      else r.error(dn, 'invalid-default', `default of ${what}: ${checked.message}`, checked.hint);
    }
    if (em.has('shift')) {
      const shift = readShift(r, em.get('shift'), col, what);
      if (shift !== undefined) mapping.shift = shift;
    }
    if (isAggregateState(col.type)) {
      r.error(
        keyNode,
        'invalid-value',
        `${what}: an aggregate column is filled by a materialized pipe, not from events`,
      );
      continue;
    }
    out.push(mapping);
  }
  return out;
}

/**
 * `shift: -2`: an integer, on a number column, and (where it is knowable here) one that keeps a
 * whole number read from the event representable: a negative shift adds digits after the point,
 * which an integer column has none of and a Decimal(P, S) has S of.
 */
function readShift(
  r: YamlReader,
  node: Node | null | undefined,
  col: Column,
  what: string,
): number | undefined {
  const shift = r.number(node, `shift of ${what}`, { integer: true });
  if (shift === undefined) return undefined;
  const base = baseType(col.type);
  if (!isNumericType(base)) {
    r.error(
      node,
      'invalid-shift',
      `shift applies to number columns; ${what} is ${col.type.text}`,
      'remove shift, or map the field into a Decimal, integer or Float column',
    );
    return undefined;
  }
  if (Math.abs(shift) > MAX_SHIFT) {
    r.error(
      node,
      'invalid-shift',
      `shift of ${what} must be between -${MAX_SHIFT} and ${MAX_SHIFT}, got ${shift}`,
    );
    return undefined;
  }
  const scale = isIntegerType(base) ? 0 : isDecimalType(base) ? decimalShape(base)!.scale : undefined;
  if (scale !== undefined && -shift > scale) {
    const sample = `1${'0'.repeat(Math.max(0, -shift - 1))}3`;
    r.error(
      node,
      'invalid-shift',
      `shift ${shift} leaves ${-shift} digits after the point, and ${what} (${col.type.text}) keeps ${scale === 0 ? 'none' : scale}: ${sample} would become ${shifted(sample, shift)}`,
      isIntegerType(base)
        ? 'store it in a Decimal column, e.g. Decimal(18, 2)'
        : `use a Decimal with a scale of at least ${-shift}`,
    );
    return undefined;
  }
  return shift;
}

/** Digits of a whole number moved `shift` places (for the message only). */
function shifted(digits: string, shift: number): string {
  const point = digits.length + shift;
  return `${digits.slice(0, point) || '0'}.${digits.slice(point)}`;
}
