/**
 * A rebuild converts a column with CAST, and ClickHouse's CAST does not refuse a value that does
 * not fit: 70000 as UInt16 is 4464, 1.2345 as Decimal(18, 2) is 1.23, a negative Int as UInt32
 * wraps. Such a conversion loses data as surely as a dropped column, so it is planned as
 * destructive (refused without --allow-destructive), with how many rows change and one example.
 * A value is kept when converting it and back gives it again.
 */

import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { type DdlContext, qualified } from './ddl.ts';
import type { LiveState } from './introspect.ts';
import type { Plan, Step } from './plan-types.ts';
import { copyColumns } from './rebuild.ts';

export async function markLossyConversions(
  plan: Plan,
  live: LiveState,
  engine: Engine,
  ctx: DdlContext,
): Promise<void> {
  for (const { step, converted } of convertingRebuilds(plan, live)) {
    if (!step.rows) continue;
    for (const c of converted) {
      const lost = await changedValues(engine, ctx, step.resource, c);
      if (!lost) continue;
      step.destructive = true;
      step.loses = [
        ...(step.loses ?? []),
        `column ${c.name} of ${step.resource}: ${lost.rows} row${lost.rows === 1 ? '' : 's'} change value converting ${c.from} -> ${c.to} (${lost.before} becomes ${lost.after})`,
      ];
    }
  }
}

/** The plan's rebuilds that convert a column's type, with the copy's SELECT and the columns converted. */
export function* convertingRebuilds(
  plan: Plan,
  live: LiveState,
): Generator<{ step: Step } & ReturnType<typeof copyColumns>> {
  for (const step of plan.steps) {
    const current = step.kind === 'rebuild-table' ? live.tables.get(step.resource) : undefined;
    if (!current || !step.tables?.[0]) continue;
    const copy = copyColumns(step.tables[0], current);
    if (copy.converted.length > 0) yield { step, ...copy };
  }
}

/** Rows whose value does not survive the conversion, and one of them; undefined when none do. */
async function changedValues(
  engine: Engine,
  ctx: DdlContext,
  table: string,
  c: { name: string; from: string; to: string },
): Promise<{ rows: number; before: string; after: string } | undefined> {
  const col = quoteIdent(c.name);
  const converted = `CAST(${col} AS ${c.to})`;
  try {
    const [row] = await engine.rows<{ rows: string | number; before: string; after: string }>(
      `SELECT count() AS rows, any(toString(${col})) AS before, any(toString(${converted})) AS after FROM ${qualified(ctx, table)} WHERE NOT (CAST(${converted} AS ${c.from}) = ${col})`,
    );
    const rows = Number(row?.rows ?? 0);
    return rows > 0 ? { rows, before: row!.before, after: row!.after } : undefined;
  } catch {
    // A value that does not convert at all fails the rebuild before it swaps anything, with
    // its own message (rebuild.ts); a type that cannot be compared is not judged here.
    return undefined;
  }
}
