import type { Problem } from '../errors.ts';
import type { DataSource, Endpoint, Pipe } from './model.ts';
import { isAggregateState } from './parse-type.ts';
import { pipesFilling } from './pipes-filling.ts';

/**
 * A data source of aggregate states that no pipe fills any more (its materialized pipe was
 * removed, say): events cannot fill it, so what reads it serves a frozen table. Warned at the
 * data source, naming the endpoints and pipes that read it, since that is what users notice.
 */
export function checkUnfilledAggregates(
  parts: {
    datasources: ReadonlyMap<string, DataSource>;
    pipes: ReadonlyMap<string, Pipe>;
    endpoints: ReadonlyMap<string, Endpoint>;
  },
  problems: Problem[],
): void {
  const writers = pipesFilling(parts);
  for (const ds of parts.datasources.values()) {
    const state = ds.columns.find((c) => isAggregateState(c.type));
    if (!state || writers.has(ds.name)) continue;
    const readers = [...parts.pipes.values()].filter((p) => pipeReads(p, ds.name));
    const read = readers.flatMap((p) => {
      const eps = [...parts.endpoints.values()].filter((e) => e.pipe === p.name);
      return eps.length > 0
        ? eps.map((e) => `endpoint \`${e.name}\` (pipe \`${p.name}\`)`)
        : [`pipe \`${p.name}\``];
    });
    problems.push({
      severity: 'warning',
      code: 'aggregate-not-filled',
      message: `data source \`${ds.name}\` holds aggregate states (column \`${state.name}\` ${state.type.text}) and no materialized pipe fills it; events cannot, so it never changes${read.length > 0 ? `: ${read.join(', ')} ${read.length === 1 ? 'reads' : 'read'} a frozen table` : ''}`,
      hint: `add a pipe with materialize: { to: ${ds.name} } (deploy backfills it), or remove the data source${read.length > 0 ? ' and what reads it' : ''}`,
      // At the aggregate column the message names.
      location: state.loc,
    });
  }
}

/** A node of the pipe reads the table (not an earlier node that has its name). */
function pipeReads(pipe: Pipe, table: string): boolean {
  return pipe.nodes.some(
    (n, i) => n.references.includes(table) && !pipe.nodes.slice(0, i).some((m) => m.name === table),
  );
}
