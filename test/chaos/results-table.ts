// The chaos run's results as Markdown, written into docs/reliability.md between markers.
import { readFileSync, writeFileSync } from 'node:fs';
import type { ChaosResult } from './run-chaos.ts';

export const BEGIN = '<!-- chaos-results:begin (written by `npm run chaos`; do not edit by hand) -->';
export const END = '<!-- chaos-results:end -->';

const s = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'never');

export function resultsMarkdown(r: ChaosResult, commit: string): string {
  const lines = [
    `Last run: \`npm run chaos${r.mode === 'short' ? ' -- --short' : ''}\` at ${r.startedAt} on commit \`${commit}\`, ${r.durationS} s, ClickHouse server back end. Result: **${r.ok ? 'pass' : 'FAIL'}**.`,
    '',
    '| measure | value |',
    '| --- | --- |',
    `| events produced (Kafka + events API) | ${r.eventsProduced + 0} messages, of which ${r.duplicatesSent} duplicate deliveries; ${r.distinctEvents} distinct events |`,
    `| events ingested under faults | ${r.eventsIngestedUnderFaults} |`,
    `| faults survived | ${r.faults.filter((f) => f.ok && f.heldMs > 0).length} / ${r.faults.filter((f) => f.heldMs > 0).length} |`,
    `| bad inputs tried | ${r.badInputs} (bad event lines and oversized bodies; the fuzz suites add theirs, see above) |`,
    `| bad lines quarantined | ${r.quarantined} |`,
    `| oversized bodies refused (413) | ${r.oversizedRefused} / ${r.oversizedTried} |`,
    `| one 1.5 MB event (above Kafka's 1 MB message limit) via the events API | HTTP ${r.bigLineStatus}${r.bigLineStatus === 503 ? ' (a 503 that no retry can cure: see Findings)' : ''} |`,
    `| a 4 MB body of ${r.fourMb.events} good events (the limit is 10 MiB) via the events API | HTTP ${r.fourMb.status}; ${r.fourMb.stored} of its events stored anyway${r.fourMb.status === 503 ? ' (see Findings)' : ''} |`,
    `| rows lost | **${r.lost}** |`,
    `| rows doubled | **${r.doubled}** |`,
    `| endpoint calls during the run | ${r.queries} (${r.queryFailures} failed or timed out, during the faults and the restarts) |`,
    `| slow clients closed by the server | ${r.slowClients.closedByServer} / ${r.slowClients.opened}, the last after ${r.slowClients.closedAfterS} s; Tally's open sockets ${r.slowClients.socketsBefore} before, ${r.slowClients.socketsAfter} after |`,
    '',
    '| fault | held | endpoints answer again after | state exact after | events so far | lost | doubled | snapshot mismatches | result |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.faults.map(
      (f) =>
        `| ${f.fault} | ${s(f.heldMs)} | ${s(f.endpointRecoveryMs)} | ${s(f.exactAfterMs)} | ${f.produced} | ${f.lost} | ${f.doubled} | ${f.snapshotMismatches} | ${f.ok ? 'ok' : `**FAIL**${f.note ? ` (${f.note})` : ''}`} |`,
    ),
  ];
  return lines.join('\n');
}

/** Replaces the text between the markers in `file` (appends the section when absent). */
export function writeResults(file: string, markdown: string): void {
  const text = readFileSync(file, 'utf8');
  const block = `${BEGIN}\n${markdown}\n${END}`;
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  const next =
    a >= 0 && b > a
      ? text.slice(0, a) + block + text.slice(b + END.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}
