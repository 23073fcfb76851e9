/**
 * Column types the server does not have: refused before any DDL, naming the column and where it
 * is declared, instead of ClickHouse's "Unknown data type family" half-way through a deploy.
 * Only types whose first release is known here are listed; 18.16 (the server on this machine)
 * has none of them (checked: CREATE TABLE with each fails there).
 */
import type { Capabilities } from '../clickhouse/capabilities.ts';
import { TallyError } from '../errors.ts';
import type { Project, TypeNode } from '../project/model.ts';

/** Type name -> the first release that has it, as [major, minor]. */
const FIRST_RELEASE: Readonly<Record<string, readonly [number, number]>> = {
  IPv4: [19, 3],
  IPv6: [19, 3],
  DateTime64: [20, 1],
  Map: [21, 8],
  Date32: [21, 9],
  Bool: [21, 12],
};

export function checkColumnTypes(project: Pick<Project, 'datasources'>, capabilities: Capabilities): void {
  const has = ([major, minor]: readonly [number, number]) =>
    capabilities.major > major || (capabilities.major === major && capabilities.minor >= minor);
  for (const ds of project.datasources.values()) {
    for (const column of ds.columns) {
      const missing = firstMissing(column.type, (name) => {
        const release = FIRST_RELEASE[name];
        return release === undefined || has(release);
      });
      if (missing === undefined) continue;
      const [major, minor] = FIRST_RELEASE[missing]!;
      throw new TallyError(
        'unsupported-on-server',
        `column \`${column.name}\` of data source \`${ds.name}\` is ${column.type.text}: ClickHouse ${capabilities.version} has no type ${missing} (it came in ${major}.${minor})`,
        {
          location: column.loc,
          hint: `use a type this server has${missing === 'DateTime64' ? ' (DateTime keeps whole seconds)' : missing === 'Bool' ? ' (UInt8)' : ''}, or a ClickHouse ${major}.${minor} or newer (the embedded engine has every type)`,
        },
      );
    }
  }
}

/** The first type name in `type` (itself or nested) that `known` refuses. */
function firstMissing(type: TypeNode, known: (name: string) => boolean): string | undefined {
  if (!known(type.name)) return type.name;
  for (const a of type.args) {
    if (a.kind !== 'type') continue;
    const inner = firstMissing(a.type, known);
    if (inner !== undefined) return inner;
  }
  return undefined;
}
