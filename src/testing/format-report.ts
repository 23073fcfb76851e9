/**
 * The human report of a test run, in the manner of vitest: a line per case with a mark and its
 * time, then each failure with its location and a diff of only what differs, then a summary.
 */
import type { Failure } from './check-answer.ts';
import { showValue } from './compare-values.ts';
import type { RowDiff } from './row-diff.ts';

export type Colour = 'red' | 'green' | 'yellow' | 'dim' | 'bold' | 'cyan';
export type Paint = (colour: Colour, s: string) => string;

/** Differences shown per failure; the rest are counted. */
const MAX_ENTRIES = 20;

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** The lines of one failure, indented by `indent`. */
export function formatFailure(f: Failure, paint: Paint, indent = '    '): string[] {
  const lines = [`${indent}${paint('red', f.message)}`];
  if (!f.diff) return lines;
  const { entries, partial } = f.diff;
  lines.push('', `${indent}${paint('green', '- expected')}`, `${indent}${paint('red', '+ actual')}`, '');
  const minus = (s: string) => `${indent}${paint('green', `- ${s}`)}`;
  const plus = (s: string) => `${indent}${paint('red', `+ ${s}`)}`;
  for (const e of entries.slice(0, MAX_ENTRIES)) lines.push(...formatEntry(e, partial, indent, minus, plus));
  if (entries.length > MAX_ENTRIES) {
    lines.push(`${indent}${paint('dim', `... and ${entries.length - MAX_ENTRIES} more differences`)}`);
  }
  return lines;
}

function formatEntry(
  e: RowDiff,
  partial: boolean,
  indent: string,
  minus: (s: string) => string,
  plus: (s: string) => string,
): string[] {
  const what = partial ? 'expected row' : 'row';
  switch (e.kind) {
    case 'missing':
      return [minus(`${what} ${e.expectedIndex + 1}  ${showRow(e.row)}`)];
    case 'extra':
      return [plus(`row ${e.actualIndex + 1}  ${showRow(e.row)}`)];
    case 'changed': {
      const where =
        e.expectedIndex === e.actualIndex && !partial
          ? `row ${e.expectedIndex + 1}`
          : `${what} ${e.expectedIndex + 1} ~ row ${e.actualIndex + 1} of the answer${partial ? ' (closest)' : ''}`;
      const out = [`${indent}  ${where}`];
      for (const d of e.fields) {
        out.push(minus(`  ${d.column}: ${d.hasExpected ? showValue(d.expected) : '(absent)'}`));
        out.push(plus(`  ${d.column}: ${d.hasActual ? showValue(d.actual) : '(absent)'}`));
      }
      return out;
    }
  }
}

function showRow(row: Readonly<Record<string, unknown>>): string {
  return `{ ${Object.entries(row)
    .map(([k, v]) => `${k}: ${showValue(v)}`)
    .join(', ')} }`;
}
