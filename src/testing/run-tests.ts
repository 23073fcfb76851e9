/**
 * A test run: a fresh database, the project deployed into it, the fixtures loaded through the
 * ingestion path (so dedup and quarantine apply as in production), every case asked of the
 * in-process HTTP app (so a case sees exactly what a client sees), and the database dropped at
 * the end, also after a failure or an interruption.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenConfig } from '../config/config.ts';
import { applyDeploy } from '../deploy/deploy.ts';
import { TallyError } from '../errors.ts';
import type { Ingestion } from '../ingest/ingestion.ts';
import { startIngestion } from '../ingest/ingestion.ts';
import { compileRowParser } from '../ingest/row-parser.ts';
import type { Endpoint, Project } from '../project/model.ts';
import { createApp } from '../server/create-app.ts';
import { StateHolder } from '../server/serving-state.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { DoubleValue, ExactNumber, parseExactJson } from '../util/exact-json.ts';
import { type Answer, checkAnswer, type Failure } from './check-answer.ts';
import type { Row } from './row-diff.ts';
import { openTestDatabase, type TestDatabase } from './test-database.ts';
import type { TestCase, TestFile } from './test-file.ts';

export type CaseState = 'passed' | 'failed' | 'skipped';

export interface CaseResult {
  file: string;
  testCase: TestCase;
  state: CaseState;
  ms: number;
  failures: Failure[];
  answer?: Answer;
}

export interface FixtureReport {
  datasource: string;
  file: string;
  events: number;
  stored: number;
  duplicates: number;
  quarantined: number;
  /** Lines the data source's schema refuses (they go to quarantine), first few. */
  refused: Array<{ line: number; reason: string }>;
}

export type RunEvent =
  | { kind: 'setup'; what: string; ms: number }
  | { kind: 'fixture'; fixture: FixtureReport }
  | { kind: 'warning'; message: string }
  | { kind: 'case'; result: CaseResult };

export interface RunTestsOptions {
  project: Project;
  /** The files and cases to run (already filtered). */
  files: readonly TestFile[];
  /** Stops between cases; the database is dropped all the same. */
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
}

export interface RunTestsResult {
  results: CaseResult[];
  interrupted: boolean;
  /** Time to create the database, deploy and load the fixtures. */
  setupMs: number;
  engine: string;
  database: string;
}

/** Lines of a fixture file reported as refused, at most. */
const REFUSED_SHOWN = 5;
/** Events appended per call while loading fixtures. */
const FIXTURE_CHUNK = 50_000;

export async function runTests(opts: RunTestsOptions): Promise<RunTestsResult> {
  const { project } = opts;
  const emit = opts.onEvent ?? (() => {});
  const aborted = () => opts.signal?.aborted === true;
  const t0 = performance.now();
  const db: TestDatabase = await openTestDatabase(project.config.clickhouse);
  const results: CaseResult[] = [];
  try {
    const engine = db.engine;
    emit({
      kind: 'setup',
      what: `database ${db.database} on ${engine.description}`,
      ms: performance.now() - t0,
    });
    const interrupted = (setupMs: number) => ({
      results,
      interrupted: true,
      setupMs,
      engine: engine.description,
      database: db.database,
    });
    if (aborted()) return interrupted(performance.now() - t0);

    const t1 = performance.now();
    const deploy = await applyDeploy(project, engine, { allowDestructive: true });
    if (!deploy.ok) {
      throw new TallyError(
        'deploy-failed',
        `deploying the project into the test database failed: ${deploy.error ?? 'unknown error'}`,
        {
          exitCode: deploy.exitCode === 1 ? 1 : 2,
        },
      );
    }
    emit({ kind: 'setup', what: `deployed ${deploy.changes} change(s)`, ms: performance.now() - t1 });
    if (aborted()) return interrupted(performance.now() - t0);

    const t2 = performance.now();
    const ingestion = await startIngestion(project, engine, undefined, { consume: false });
    try {
      for (const f of await loadFixtures(project, ingestion, (message) =>
        emit({ kind: 'warning', message }),
      )) {
        emit({ kind: 'fixture', fixture: f });
      }
    } finally {
      await ingestion.stop();
    }
    emit({ kind: 'setup', what: 'fixtures loaded', ms: performance.now() - t2 });
    const setupMs = performance.now() - t0;

    const app = createApp({
      state: new StateHolder({ project, engine, version: 'test' }),
      tokens: project.config.tokens,
      // Fixtures are old by nature: report staleness, never answer 503 for it.
      staleness: 'report',
    });
    for (const file of opts.files) {
      for (const c of file.cases) {
        if (aborted()) return interrupted(setupMs);
        const result = await runCase(app, project, file.file, c);
        results.push(result);
        emit({ kind: 'case', result });
      }
    }
    return { results, interrupted: false, setupMs, engine: engine.description, database: db.database };
  } finally {
    await db.drop();
  }
}

async function runCase(
  app: ReturnType<typeof createApp>,
  project: Project,
  file: string,
  c: TestCase,
): Promise<CaseResult> {
  if (c.skip !== undefined) return { file, testCase: c, state: 'skipped', ms: 0, failures: [] };
  const t0 = performance.now();
  const answer = await ask(app, project, c);
  const failures = checkAnswer(c.expected, answer);
  return {
    file,
    testCase: c,
    state: failures.length === 0 ? 'passed' : 'failed',
    ms: performance.now() - t0,
    failures,
    answer,
  };
}

/** One request to the in-process app, exactly as a client would send it. */
async function ask(app: ReturnType<typeof createApp>, project: Project, c: TestCase): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = tokenFor(project, c);
  if (token) headers.authorization = `Bearer ${token}`;
  const path = `/v0/pipes/${encodeURIComponent(c.endpoint)}.json`;
  const scalar = Object.values(c.params).every((v) => v === null || typeof v !== 'object');
  let res: Response;
  if (scalar) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(c.params)) if (v !== null) q.set(k, String(v));
    const qs = q.toString();
    res = await app.request(qs ? `${path}?${qs}` : path, { headers });
  } else {
    // Lists travel as a JSON body, as a client sends an Array param.
    res = await app.request(path, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(c.params),
    });
  }
  const text = await res.text();
  let body: unknown;
  try {
    // Numbers a double cannot hold keep their digits (compare-values.ts compares them exactly).
    body = parseExactJson(text);
  } catch {
    body = undefined;
  }
  const obj = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : undefined;
  if (res.status >= 400) {
    return { status: res.status, error: typeof obj?.error === 'string' ? obj.error : text };
  }
  const data = Array.isArray(obj?.data) ? (obj.data as Row[]) : [];
  markDoubles(obj?.meta, data);
  return { status: res.status, rows: data };
}

/**
 * The values of Float32/Float64 columns become DoubleValues: the exact parse keeps a double of 20
 * digits as an ExactNumber, which would then compare digit for digit like a UInt64.
 */
function markDoubles(meta: unknown, rows: Row[]): void {
  if (!Array.isArray(meta)) return;
  const floats = (meta as Array<{ name?: unknown; type?: unknown }>)
    .filter((m) => typeof m.type === 'string' && /^(Nullable\()?Float(32|64)\b/.test(m.type))
    .map((m) => String(m.name));
  if (floats.length === 0) return;
  for (const row of rows) {
    for (const c of floats) {
      const v = (row as Record<string, unknown>)[c];
      if (typeof v === 'number') (row as Record<string, unknown>)[c] = new DoubleValue(v);
      else if (v instanceof ExactNumber)
        (row as Record<string, unknown>)[c] = new DoubleValue(Number(v.text));
    }
  }
}

/** The token a case sends: the one it names, else one that may read its endpoint (admin first). */
function tokenFor(project: Project, c: TestCase): string | undefined {
  const tokens = project.config.tokens;
  if (tokens.length === 0 || c.token === 'none') return undefined;
  if (c.token !== undefined) return tokens.find((t) => t.name === c.token)?.value;
  const endpoint = project.endpoints.get(c.endpoint);
  return (tokens.find((t) => t.scope === 'admin') ?? tokens.find((t) => mayRead(t, endpoint)))?.value;
}

function mayRead(t: TokenConfig, endpoint: Endpoint | undefined): boolean {
  if (t.scope !== 'read' || !endpoint) return false;
  if (t.endpoints !== undefined && !t.endpoints.includes(endpoint.name)) return false;
  return endpoint.token === undefined || endpoint.token === 'read' || endpoint.token === t.name;
}

/**
 * `fixtures/<data source>.ndjson` through ingestion.append, chunk by chunk. Lines the schema
 * refuses are found first with the data source's row parser, so they can be named by line
 * (ingestion quarantines them as it would any bad event).
 */
async function loadFixtures(
  project: Project,
  ingestion: Ingestion,
  warn: (message: string) => void,
): Promise<FixtureReport[]> {
  const dir = join(project.root, 'fixtures');
  if (!existsSync(dir)) return [];
  const takes = ingestion.datasourceNames();
  const reports: FixtureReport[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.ndjson')) continue;
    const ds = name.slice(0, -'.ndjson'.length);
    const file = `fixtures/${name}`;
    const source = project.datasources.get(ds);
    if (!source) {
      warn(
        `${file} is not loaded: no data source named \`${ds}\`${didYouMean(ds, project.datasources.keys())}`,
      );
      continue;
    }
    if (!takes.includes(ds)) {
      warn(`${file} is not loaded: \`${ds}\` takes no events (a materialized pipe fills it)`);
      continue;
    }
    const parser = compileRowParser(source);
    const lines = readFileSync(join(dir, name), 'utf8').split('\n');
    const events: string[] = [];
    const refused: FixtureReport['refused'] = [];
    let refusedCount = 0;
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      events.push(line);
      const row = parser.parse(line);
      if (!row.ok) {
        refusedCount++;
        if (refused.length < REFUSED_SHOWN) {
          refused.push({
            line: i + 1,
            reason: row.problems.map((p) => (p.column ? `${p.column}: ${p.message}` : p.message)).join('; '),
          });
        }
      }
    });
    const report: FixtureReport = {
      datasource: ds,
      file,
      events: events.length,
      stored: 0,
      duplicates: 0,
      quarantined: 0,
      refused,
    };
    for (let i = 0; i < events.length; i += FIXTURE_CHUNK) {
      const r = await ingestion.append(ds, events.slice(i, i + FIXTURE_CHUNK), {
        requestId: `tally-test:${ds}:${i}`,
        source: 'append',
      });
      report.stored += r.successful_rows;
      report.duplicates += r.duplicate_rows;
      report.quarantined += r.quarantined_rows;
    }
    if (refusedCount > refused.length) {
      refused.push({ line: 0, reason: `and ${refusedCount - refused.length} more` });
    }
    reports.push(report);
  }
  return reports;
}
