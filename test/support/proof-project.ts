/**
 * A copy of the example project for the event-sourcing proof: its Kafka topics renamed to this
 * run's own, and a materialized attribution (first touch) so `tally replay` has a rule to replay.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeProject } from '../unit/project/write-project.ts';
import { copyExample } from './example-copy.ts';

/** The rule as the copy starts (first touch) and as the proof changes it (last touch). */
export const FIRST_TOUCH = "argMaxState(ifNull(url, ''), -toInt64(timestamp)) AS attributed_url";
export const LAST_TOUCH = "argMaxState(ifNull(url, ''), toInt64(timestamp)) AS attributed_url";

export const ATTRIBUTION_PIPE = 'session_attribution_mv';

const ATTRIBUTION_DATASOURCE = `description: Per shop session, the page credited for its cart (kept by ${ATTRIBUTION_PIPE}).
columns:
  - { name: session_id,     type: String }
  - { name: attributed_url, type: "AggregateFunction(argMax, String, Int64)" }
engine: { type: AggregatingMergeTree, sorting_key: session_id }
`;

// argMax over the time, or over the negated time for the earliest view: one state type for both
// rules, so changing the rule changes the pipe and not the target's columns. ifNull: 18.16 states
// of argMax over a Nullable are typed on the non-Nullable type (26.x keeps the Nullable).
const ATTRIBUTION_MV = `description: The page credited per session; the rule is the argMax key.
nodes:
  - name: touches
    sql: |
      SELECT session_id, ${FIRST_TOUCH}
      FROM page_events
      WHERE action = 'ViewPage'
      GROUP BY session_id
materialize: { to: session_attribution }
`;

/** Writes the copy; `topics` maps each data source to its topic in this run. Returns its folder. */
export function proofProject(topics: Record<string, string>): string {
  const dir = copyExample(writeProject({}), topics);
  writeFileSync(join(dir, 'datasources', 'session_attribution.datasource.yaml'), ATTRIBUTION_DATASOURCE);
  writeFileSync(join(dir, 'pipes', `${ATTRIBUTION_PIPE}.pipe.yaml`), ATTRIBUTION_MV);
  return dir;
}

/** Changes the copy's attribution rule from first touch to last touch. */
export function switchToLastTouch(dir: string): void {
  const file = join(dir, 'pipes', `${ATTRIBUTION_PIPE}.pipe.yaml`);
  const text = readFileSync(file, 'utf8');
  if (!text.includes(FIRST_TOUCH)) throw new Error(`${file} does not hold the first-touch rule`);
  writeFileSync(file, text.replace(FIRST_TOUCH, LAST_TOUCH));
}
