// The chaos run's results as Markdown, written into docs/reliability.md between markers: the
// private services' start times, then one section per back end.
import { readFileSync, writeFileSync } from 'node:fs';
import type { ChaosResult } from './run-chaos.ts';

export const BEGIN = '<!-- chaos-results:begin (written by `npm run chaos`; do not edit by hand) -->';
export const END = '<!-- chaos-results:end -->';

/** The whole run: the private services and each back end's result. */
export interface ChaosReport {
  mode: 'short' | 'full';
  startedAt: string;
  durationS: number;
  services: { clickhouse: string; kafka: string; clickhouseStartMs: number; kafkaStartMs: number };
  backends: ChaosResult[];
  ok: boolean;
}

const s = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'never');

export function reportMarkdown(r: ChaosReport, commit: string): string {
  const restarts = r.backends.flatMap((b) => b.restarts);
  const range = (xs: number[]) =>
    xs.length === 0 ? '-' : `${s(Math.min(...xs))} to ${s(Math.max(...xs))} (${xs.length})`;
  const rows = (service: string, how: string) => {
    const rs = restarts.filter((x) => x.service === service && x.how === how);
    return `| ${service} | ${how} | ${range(rs.map((x) => x.stopMs))} | ${range(rs.map((x) => x.startMs))} |`;
  };
  return [
    `Last run: \`npm run chaos${r.mode === 'short' ? ' -- --short' : ''}\` at ${r.startedAt} on commit \`${commit}\`, ${r.durationS} s in all, back ends ${r.backends.map((b) => `${b.backend} (${b.durationS} s)`).join(' and ')}. Result: **${r.ok ? 'pass' : 'FAIL'}**.`,
    '',
    `The run's own services: ${r.services.clickhouse}, first start ${s(r.services.clickhouseStartMs)} to its first \`SELECT 1\`; ${r.services.kafka}, first start ${s(r.services.kafkaStartMs)} to its first metadata answer (after formatting its storage).`,
    '',
    '| service | restarted by | stopped in (min to max, count) | answering again after its start |',
    '| --- | --- | --- | --- |',
    rows('ClickHouse', 'SIGTERM'),
    rows('ClickHouse', 'kill -9'),
    rows('Kafka', 'SIGTERM'),
    rows('Kafka', 'kill -9'),
    ...r.backends.flatMap((b) => ['', ...backendMarkdown(b)]),
  ].join('\n');
}

function backendMarkdown(r: ChaosResult): string[] {
  const title = r.backend === 'server' ? 'ClickHouse server back end (18.16)' : 'Embedded back end (chDB)';
  const slow = r.slowClients;
  return [
    `### ${title}: ${r.ok ? 'pass' : '**FAIL**'}`,
    '',
    `${r.durationS} s; Tally healthy ${s(r.firstStartMs)} after its first start; state read through ${r.checkedThrough}${r.folderCheck ? ` (the folder's figures: ${r.folderCheck === 'agrees' ? "the same as the endpoints'" : r.folderCheck})` : ''}.`,
    '',
    '| measure | value |',
    '| --- | --- |',
    `| events produced (Kafka + events API) | ${r.eventsProduced} messages, of which ${r.duplicatesSent} duplicate deliveries; ${r.distinctEvents} distinct events |`,
    `| events ingested under faults | ${r.eventsIngestedUnderFaults} |`,
    `| faults survived | ${r.faults.filter((f) => f.ok && f.heldMs > 0).length} / ${r.faults.filter((f) => f.heldMs > 0).length} |`,
    `| bad inputs tried | ${r.badInputs} (bad event lines and oversized bodies; the fuzz suites add theirs, see above) |`,
    `| bad lines quarantined | ${r.quarantined} |`,
    `| oversized bodies refused (413, or the connection closed while the body was sent) | ${r.oversizedRefused} / ${r.oversizedTried} |`,
    `| one 1.5 MB event (above Kafka's 1 MB message limit) via the events API | HTTP ${r.bigLineStatus}${r.bigLineStatus === 503 ? ' (a 503 that no retry can cure: see Findings)' : ''} |`,
    `| a 4 MB body of ${r.fourMb.events} good events (the limit is 10 MiB) via the events API | HTTP ${r.fourMb.status}; ${r.fourMb.stored} of its events stored${r.fourMb.status === 503 ? ' anyway (see Findings)' : ''} |`,
    `| rows lost | **${r.lost}** |`,
    `| rows doubled | **${r.doubled}** |`,
    `| endpoint calls during the run | ${r.queries} (${r.queryFailures} failed or timed out, during the faults and the restarts) |`,
    ...(slow
      ? [
          `| slow clients closed by the server | ${slow.closedByServer} / ${slow.opened}, the last after ${slow.closedAfterS} s; Tally's open sockets ${slow.socketsBefore} before, ${slow.socketsAfter} after |`,
        ]
      : []),
    '',
    '| fault | held | endpoints answer again after | state exact after | events so far | lost | doubled | snapshot mismatches | result |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.faults.map(
      (f) =>
        `| ${f.fault} | ${s(f.heldMs)} | ${s(f.endpointRecoveryMs)} | ${s(f.exactAfterMs)} | ${f.produced} | ${f.lost} | ${f.doubled} | ${f.snapshotMismatches} | ${f.ok ? 'ok' : `**FAIL**${f.note ? ` (${f.note})` : ''}`} |`,
    ),
  ];
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
