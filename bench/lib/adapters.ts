/**
 * Adapters from the human output of the benchmark scripts (owned by the modules they measure)
 * to metrics. A script that prints a `{ bench, metrics }` JSON line last needs none: the runner
 * takes that line as it is. Each adapter throws when a line it needs is missing, so a changed
 * output is a failed benchmark, never a silently missing figure.
 */
import { plainMetric, rateMetric, timeMetric } from './metric.ts';
import type { BenchOutput, Metric } from './result-schema.ts';

/** `bench/check-200.ts`: loadProject and `tally check` on a generated 200-source, 500-pipe project. */
export function parseCheck200(out: string): BenchOutput {
  const m = need(out, /loadProject: first run ([\d.]+) ms, warm median ([\d.]+) ms/, 'loadProject timings');
  const check = need(
    out,
    /tally check: ([\d.]+) ms in the command, median of (\d+) processes \(([^)]*)\) \((\d+) warnings\), ([\d.]+) ms for the whole process/,
    'tally check timings',
  );
  const size = /project: (\d+) data sources, (\d+) pipes, (\d+) endpoints/.exec(out);
  return {
    bench: 'check-200',
    metrics: [
      timeMetric(
        `tally check (load, validate, compile every node, dedup-read checks, endpoint tests), as the command reports it, median of ${check[2]} runs`,
        num(check[1]),
        'ms',
        undefined,
        { targetId: 'check-200' },
      ),
      timeMetric(
        'tally check, the whole process (node and the command loading too), median',
        num(check[5]),
        'ms',
      ),
      timeMetric('load + validate (loadProject alone), first run in a fresh process', num(m[1]), 'ms'),
      timeMetric('load + validate, warm (median of 5 more)', num(m[2]), 'ms'),
    ],
    notes: [
      ...(size ? [`${size[1]} data sources, ${size[2]} pipes, ${size[3]} endpoints`] : []),
      `tally check runs: ${check[3]} ms`,
      `tally check reported ${check[4]} warnings (reads of deduplicating logs without FINAL, as generated)`,
    ],
  };
}

/** `bench/deploy-plan.ts`: plan, first deploy and no-op redeploy of 200 data sources. */
export function parseDeployPlan(out: string): BenchOutput {
  const backend = backendOf(out);
  const empty = need(out, /plan against an empty database: ([\d.]+) ms \((\d+) steps\)/, 'empty plan');
  const first = need(out, /first deploy: ([\d.]+) ms \((\d+) steps\)/, 'first deploy');
  const plan = need(out, /plan of the deployed project[^:]*: median ([\d.]+) ms, max ([\d.]+) ms/, 'plan');
  const again = need(out, /redeploy with no changes: ([\d.]+) ms \((\d+) changes\)/, 'redeploy');
  const start = need(
    out,
    /serve start check of (\d+) endpoint pipes \((\d+) nodes\): median ([\d.]+) ms; one pipe at a time: median ([\d.]+) ms/,
    'serve start check',
  );
  return {
    bench: 'deploy-plan',
    metrics: [
      timeMetric('plan of the deployed project (median of 7)', num(plan[1]), 'ms', undefined, {
        backend,
        targetId: 'plan-200',
      }),
      timeMetric('plan of the deployed project (max of 7)', num(plan[2]), 'ms', undefined, { backend }),
      timeMetric(`redeploy with no changes (${again[2]} changes)`, num(again[1]), 'ms', undefined, {
        backend,
        targetId: 'noop-deploy',
      }),
      timeMetric(`plan against an empty database (${empty[2]} steps)`, num(empty[1]), 'ms', undefined, {
        backend,
      }),
      timeMetric(`first deploy (${first[2]} steps)`, num(first[1]), 'ms', undefined, { backend }),
      timeMetric(
        `\`tally serve\`'s check of the served SQL before it serves (${start[1]} endpoint pipes, ${start[2]} nodes tried on the deployed tables), median of 3`,
        num(start[3]),
        'ms',
        { name: 'the same check one pipe at a time', value: num(start[4]) },
        { backend },
      ),
    ],
  };
}

/** `bench/backfill.ts`: create-view + backfill against a plain INSERT ... SELECT. */
export function parseBackfill(out: string): BenchOutput {
  const backend = backendOf(out);
  const rows = num(need(out, /: ([\d,]+) source rows/, 'source rows')[1]);
  const plain = num(need(out, /plain INSERT \.\.\. SELECT:\s+median ([\d.]+) ms/, 'plain median')[1]);
  const fill = need(
    out,
    /backfill \(create-view \+ backfill\): median ([\d.]+) ms.*the INSERT alone ([\d.]+) ms/,
    'backfill',
  );
  const perS = (ms: number) => (rows / ms) * 1000;
  return {
    bench: 'backfill',
    metrics: [
      rateMetric(
        'backfill (hold, snapshot, attach, INSERT ... SELECT)',
        perS(num(fill[1])),
        'rows/s',
        { name: 'plain INSERT ... SELECT', value: perS(plain) },
        { backend, targetId: 'backfill' },
      ),
      rateMetric(
        'its INSERT ... SELECT step alone',
        perS(num(fill[2])),
        'rows/s',
        {
          name: 'plain INSERT ... SELECT',
          value: perS(plain),
        },
        { backend },
      ),
    ],
    notes: [
      `${rows.toLocaleString('en-US')} source rows, median of the rounds`,
      // Measured here, not remembered: what the steps around the INSERT cost against the plain one.
      `the steps around its INSERT (snapshot of the source by hard links, hold, attach) took ${(num(fill[1]) - num(fill[2])).toFixed(0)} ms, ${(((num(fill[1]) - num(fill[2])) / plain) * 100).toFixed(0)}% of the plain INSERT ... SELECT's ${plain.toFixed(0)} ms`,
    ],
  };
}

/** The same figures, with no target judged on them (a run that shows a cost, not a goal). */
export function untargeted(out: BenchOutput): BenchOutput {
  return { ...out, metrics: out.metrics.map(({ targetId: _, ...m }) => m) };
}

/**
 * `bench/ingest.ts`: Kafka -> Tally -> ClickHouse against straight HTTP and the Kafka engine.
 * Each line has the sustained rate (10% -> 90% of the rows stored, no group join) and then the
 * end-to-end rate; the targets are judged on the sustained one, as the script does. An older
 * output with one rate per line is read as end to end.
 */
export function parseIngest(out: string): BenchOutput {
  const backend = backendOf(out);
  const events = num(need(out, /ingest bench: ([\d,]+) events/, 'event count')[1]);
  const triple = String.raw`([\d.]+) s\s+([\d,]+) rows/s\s+([\d.]+) MB/s`;
  const line = (label: string, required: boolean) => {
    const m = new RegExp(`${escapeRe(label)}\\s+${triple}(?:\\s+${triple})?`).exec(out);
    if (!m && required) throw new Error(`no "${label}" line in the output`);
    if (!m) return undefined;
    const first = { s: num(m[1]), rows: num(m[2]), mb: num(m[3]) };
    const second = m[4] ? { s: num(m[4]), rows: num(m[5]), mb: num(m[6]) } : undefined;
    return second ? { sustained: first, endToEnd: second } : { sustained: undefined, endToEnd: first };
  };
  const tally = line('Tally (Kafka -> ClickHouse)', true)!;
  const http = line('HTTP JSONEachRow, 100k-row inserts', true)!;
  const engine = line('ClickHouse Kafka engine + MV', false);
  const proc = need(
    out,
    /Tally process: CPU ([\d.]+) s user \+ ([\d.]+) s system \(([\d.]+) cores\), peak RSS ([\d.]+) MB/,
    'Tally process line',
  );
  const wait = /waiting on ClickHouse: lookups ([\d.]+) s, inserts ([\d.]+) s, bookkeeping ([\d.]+) s/.exec(
    out,
  );
  const flushes = /Tally flushes: (\d+)/.exec(out);
  const judged = tally.sustained ?? tally.endToEnd;
  // A run on a topic with compression.type set names its codec in every figure of Tally.
  const codec = /^topic compression: (\w+)/m.exec(out)?.[1];
  // And a run without a dedup_key (the Kafka engine's work: no lookups) says so too.
  const noDedup = /^Tally data source: no dedup_key/m.test(out);
  const topicKind = codec ? ` (${codec}-compressed topic)` : '';
  const sustained = tally.sustained ? ', sustained (10% -> 90% of the rows)' : '';
  // The baselines never dedup: only Tally's figures name the setting.
  const how = `${topicKind}${sustained}`;
  const tallyHow = `${topicKind}${noDedup ? ' (no dedup_key)' : ''}${sustained}`;
  const httpRate = (http.sustained ?? http.endToEnd).rows;
  const metrics: Metric[] = [
    rateMetric(
      `Kafka -> ClickHouse through Tally${tallyHow}`,
      judged.rows,
      'rows/s',
      { name: 'same NDJSON straight over HTTP, 100k-row inserts', value: httpRate },
      { backend, targetId: 'ingest-http' },
    ),
  ];
  if (engine) {
    metrics.push(
      rateMetric(
        `Kafka -> ClickHouse through Tally${tallyHow}`,
        judged.rows,
        'rows/s',
        {
          name: `ClickHouse's Kafka engine + MV, same topic${how}`,
          value: (tally.sustained ? (engine.sustained ?? engine.endToEnd) : engine.endToEnd).rows,
        },
        { backend, targetId: 'ingest-kafka-engine' },
      ),
    );
  }
  metrics.push(
    rateMetric(
      `Kafka -> ClickHouse through Tally${tallyHow}`,
      judged.mb,
      'MB/s',
      {
        name: 'straight over HTTP',
        value: (http.sustained ?? http.endToEnd).mb,
      },
      { backend },
    ),
  );
  if (tally.sustained) {
    metrics.push(
      rateMetric(
        `Kafka -> ClickHouse through Tally${topicKind}${noDedup ? ' (no dedup_key)' : ''}, end to end (with group join)`,
        tally.endToEnd.rows,
        'rows/s',
        {
          name: 'straight over HTTP',
          value: http.endToEnd.rows,
        },
        { backend },
      ),
    );
    if (engine) {
      metrics.push(
        rateMetric(
          `Kafka -> ClickHouse through Tally${topicKind}${noDedup ? ' (no dedup_key)' : ''}, end to end (with group join)`,
          tally.endToEnd.rows,
          'rows/s',
          {
            name: "ClickHouse's Kafka engine + MV, end to end",
            value: engine.endToEnd.rows,
          },
          { backend },
        ),
      );
    }
  }
  metrics.push(
    plainMetric('Tally peak RSS', num(proc[4]), 'MB', { backend, targetId: 'ingest-rss' }),
    plainMetric('Tally CPU time (user + system)', num(proc[1]) + num(proc[2]), 's', { backend }),
    plainMetric('Tally CPU use while ingesting', num(proc[3]), 'cores', { backend }),
  );
  if (wait) {
    metrics.push(
      plainMetric('time waiting on ClickHouse: dedup lookups', num(wait[1]), 's', { backend }),
      plainMetric('time waiting on ClickHouse: inserts', num(wait[2]), 's', { backend }),
      plainMetric('time waiting on ClickHouse: offsets bookkeeping', num(wait[3]), 's', { backend }),
    );
  }
  const notes = [`${events.toLocaleString('en-US')} events through each path`];
  // Per event, from this run's figures: Tally's own CPU against ClickHouse's time per row when it
  // parses the same NDJSON itself (the two share the machine's cores).
  const cpuPerEventUs = ((num(proc[1]) + num(proc[2])) * 1e6) / events;
  metrics.push(plainMetric('Tally CPU per event', cpuPerEventUs, 'µs', { backend }));
  notes.push(
    `Tally's process used ${cpuPerEventUs.toFixed(1)} µs of CPU per event; the straight HTTP inserts took ${(1e6 / httpRate).toFixed(1)} µs of wall time per row`,
  );
  if (flushes) notes.push(`Tally flushed ${flushes[1]} times`);
  const fetches = /^Tally fetches: (.*)$/m.exec(out);
  if (fetches) notes.push(`Tally's fetches: ${fetches[1]}`);
  // Several rounds: the figures above are each path's median; every round's rates as a note.
  for (const m of out.matchAll(/^(round \d+ of \d+: .*)$/gm)) notes.push(m[1]!);
  if (!engine) notes.push("ClickHouse's Kafka engine did not finish: no figure for it");
  return { bench: 'ingest', metrics, notes };
}

interface EndpointMeasure {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

interface EndpointResult {
  backend: string;
  endpoint: string;
  rows: number;
  direct: Record<string, EndpointMeasure>;
  cacheOff: Record<string, EndpointMeasure>;
  coalesced: Record<string, EndpointMeasure>;
  cacheOn: Record<string, EndpointMeasure>;
  bare?: Record<string, EndpointMeasure>;
  latency: { directP50: number; tallyP50: number; added: number; from?: string };
  inProcessLatency?: { directP50: number; tallyP50: number; added: number };
  hitMicros?: { tally: number; bare: number };
}

/** What Tally adds to the direct median latency (ms), its ratio the direct median / Tally's. */
function addedLatency(
  name: string,
  l: { directP50: number; tallyP50: number; added: number },
  common: { backend: string; targetId?: string },
): Metric {
  return {
    name,
    value: l.added,
    unit: 'ms',
    ...common,
    baseline: { name: 'direct median', value: l.directP50, unit: 'ms' },
    ratio: l.tallyP50 > 0 ? l.directP50 / l.tallyP50 : Number.NaN,
  };
}

/** `bench/endpoints.ts` prints its whole result as a JSON line last. */
export function parseEndpoints(_out: string, last: Record<string, unknown> | undefined): BenchOutput {
  if (!last || !Array.isArray(last.results)) throw new Error('no JSON result line from bench/endpoints.ts');
  const results = last.results as EndpointResult[];
  const metrics: Metric[] = [];
  const notes: string[] = [];
  for (const r of results) {
    const backend = r.backend;
    const e = r.endpoint;
    const direct = (c: number) => ({
      name: `same SQL straight to ${backend === 'embedded' ? 'chDB' : 'ClickHouse'}, ${c} conn.`,
      value: r.direct[c]!.rps,
    });
    const t = (suffix: string) => `${e}: ${suffix}`;
    metrics.push(
      rateMetric(t('req/s at 32 conn., cache off'), r.cacheOff[32]!.rps, 'req/s', direct(32), {
        backend,
        targetId: 'endpoint-throughput',
      }),
      addedLatency(
        t(
          r.latency.from === 'load generator'
            ? 'added median latency, 1 conn., cache off (the load generator, its own process)'
            : 'added median latency, 1 conn., cache off',
        ),
        r.latency,
        { backend, targetId: 'endpoint-added-latency' },
      ),
      rateMetric(t('req/s at 32 conn., cache on'), r.cacheOn[32]!.rps, 'req/s', direct(32), {
        backend,
        targetId: 'endpoint-cache',
      }),
    );
    if (r.inProcessLatency && r.latency.from === 'load generator')
      metrics.push(
        addedLatency(
          t('added median latency, 1 conn., cache off, sequential requests from the process serving them'),
          r.inProcessLatency,
          { backend },
        ),
      );
    const bare = r.bare?.[32];
    if (bare)
      metrics.push(
        rateMetric(
          t('req/s at 32 conn., cache on, against a bare node:http server'),
          r.cacheOn[32]!.rps,
          'req/s',
          {
            name: 'node:http answering the same bytes, no framework, no work, 32 conn.',
            value: bare.rps,
          },
          { backend },
        ),
        rateMetric(
          t('req/s at 32 conn., bare node:http answering the same bytes'),
          bare.rps,
          'req/s',
          direct(32),
          {
            backend,
          },
        ),
      );
    if (r.hitMicros)
      metrics.push(
        timeMetric(
          t("a cache hit's JavaScript, in process (request logged)"),
          r.hitMicros.tally,
          'µs',
          { name: 'a handler answering the same bytes, same loop', value: r.hitMicros.bare },
          { backend },
        ),
      );
    for (const c of [1, 8, 32]) {
      if (c !== 32)
        metrics.push(
          rateMetric(t(`req/s at ${c} conn., cache off`), r.cacheOff[c]!.rps, 'req/s', direct(c), {
            backend,
          }),
        );
      const d = r.direct[c]!;
      const off = r.cacheOff[c]!;
      metrics.push(
        timeMetric(
          t(`p50 at ${c} conn., cache off`),
          off.p50,
          'ms',
          { name: 'direct p50', value: d.p50 },
          { backend },
        ),
        timeMetric(
          t(`p99 at ${c} conn., cache off`),
          off.p99,
          'ms',
          { name: 'direct p99', value: d.p99 },
          { backend },
        ),
      );
      const co = r.coalesced[c];
      if (co)
        metrics.push(
          rateMetric(t(`req/s at ${c} conn., coalesced (default)`), co.rps, 'req/s', direct(c), { backend }),
        );
      const errors = d.errors + off.errors + (co?.errors ?? 0) + (r.cacheOn[c]?.errors ?? 0);
      if (errors > 0) notes.push(`${backend} ${e} at ${c} connections: ${errors} errors`);
    }
    notes.push(`${backend}: ${r.rows.toLocaleString('en-US')} transactions`);
  }
  if (typeof last.durationS === 'number')
    notes.push(
      `${last.durationS} s per load-generator run (${typeof last.generator === 'string' ? last.generator : 'autocannon'})`,
    );
  return { bench: 'endpoints', metrics, notes: [...new Set(notes)], raw: last };
}

function need(text: string, re: RegExp, what: string): RegExpExecArray {
  const m = re.exec(text);
  if (!m) throw new Error(`could not read ${what} from the output (${re})`);
  return m;
}

function num(s: string | undefined): number {
  return Number((s ?? '').replace(/,/g, ''));
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `server` or `embedded`, from the engine description a script prints first. */
function backendOf(out: string): string {
  return /chDB \S+ \(embedded/.test(out) ? 'embedded' : 'server';
}

/** `bench/dev-loop.ts`: save-to-served, `tally test` wall time, no-op deploy (embedded). */
export function parseDevLoop(out: string): BenchOutput {
  const d = String.raw`([\d.]+ (?:ms|s))`;
  const loop = need(out, new RegExp(`median ${d}\\s+p90 ${d}\\s+min ${d}\\s+max ${d}`), 'save -> served');
  const edits = /save -> new answer served \([^,]*, (\d+) edits/.exec(out);
  const test = need(
    out,
    new RegExp(`tally test on the example project \\(embedded\\): ${d} wall`),
    'tally test',
  );
  const testServer = new RegExp(`tally test on the example project \\(server [^)]*\\): ${d} wall`).exec(out);
  const deploy = need(
    out,
    new RegExp(`no-op deploy: \`tally deploy\` ${d} wall.*applyDeploy ${d} in-process`),
    'no-op deploy',
  );
  const metrics: Metric[] = [
    timeMetric(
      `save -> new answer served, median of ${edits?.[1] ?? '?'} endpoint-only edits`,
      msOf(loop[1]),
      'ms',
      undefined,
      {
        backend: 'embedded',
        targetId: 'save-to-served',
      },
    ),
    timeMetric('save -> new answer served, p90', msOf(loop[2]), 'ms', undefined, { backend: 'embedded' }),
    timeMetric('save -> new answer served, max', msOf(loop[4]), 'ms', undefined, { backend: 'embedded' }),
    timeMetric('`tally test` on the example project, wall', msOf(test[1]), 'ms', undefined, {
      backend: 'embedded',
      targetId: 'tally-test',
    }),
  ];
  if (testServer) {
    metrics.push(
      timeMetric('`tally test` on the example project, wall', msOf(testServer[1]), 'ms', undefined, {
        backend: 'server',
        targetId: 'tally-test',
      }),
    );
  }
  metrics.push(
    timeMetric(
      'no-op `tally deploy`, wall with process start (median of 5)',
      msOf(deploy[1]),
      'ms',
      undefined,
      {
        backend: 'embedded',
        targetId: 'noop-deploy',
      },
    ),
    timeMetric('no-op deploy in-process, applyDeploy (median of 5)', msOf(deploy[2]), 'ms', undefined, {
      backend: 'embedded',
    }),
  );
  const startUp = new RegExp(`start-up: \`tally --help\` ${d} wall bundled, ${d} through tsx`).exec(out);
  if (startUp) {
    metrics.push(
      timeMetric(
        '`tally --help`, wall with process start, sources bundled (median of 7)',
        msOf(startUp[1]),
        'ms',
        { name: 'the same sources through tsx (TALLY_NO_BUNDLE=1), median of 7', value: msOf(startUp[2]) },
      ),
    );
  }
  return {
    bench: 'dev-loop',
    metrics,
    notes: [
      '`tally` wall times include starting the process (the sources bundled by esbuild, bin/cli-bundle.js; built before the first timed run) and opening the embedded engine',
    ],
  };
}

/** "205 ms" or "2.82 s" -> milliseconds. */
function msOf(text: string | undefined): number {
  const [n, unit] = (text ?? '').split(' ');
  return unit === 's' ? Number(n) * 1000 : Number(n);
}
