import type { Node } from 'yaml';
import type { YamlReader } from '../yaml/yaml-reader.ts';
import { parseJsonPath } from './json-path.ts';
import type { TypeNode } from './model.ts';
import { locInScalar } from './yaml-values.ts';

/**
 * A `json:` value: a JSONPath that parses, that an aggregate column does not have, and that is
 * `$` (the whole event) only for a String column. Problems are reported; undefined then.
 */
export function readJsonPath(r: YamlReader, node: Node | null | undefined, type: TypeNode | undefined) {
  const text = r.string(node, 'json (a JSONPath such as $.amount)');
  if (text === undefined || !node) return undefined;
  const parsed = parseJsonPath(text);
  if (!parsed.ok) {
    r.problems.push({
      severity: 'error',
      code: 'invalid-json-path',
      message: `invalid JSONPath \`${text}\`: ${parsed.message}`,
      location: locInScalar(r.file, node, parsed.offset),
    });
    return undefined;
  }
  if (type?.name === 'AggregateFunction') {
    r.error(
      node,
      'invalid-json-path',
      `an ${type.text} column holds aggregate states, which cannot be read from an event`,
      'remove json; a materialized pipe fills this column',
    );
    return undefined;
  }
  if (type && parsed.path.segments.length === 0 && type.name !== 'String') {
    r.error(
      node,
      'invalid-json-path',
      `\`json: $\` stores the whole event as text, so the column must be String, not ${type.text}`,
    );
    return undefined;
  }
  return parsed.path;
}
