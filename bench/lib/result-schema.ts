/**
 * The shape of bench/results/<date>-<sha>.json: one run of every benchmark, with the machine,
 * the versions and every figure beside the baseline measured in the same run.
 */

/** A goal named in an issue, checked on a metric's value or on its ratio to the baseline. */
export interface Target {
  id: string;
  /** As the issue says it, e.g. "plan 200 sources < 2 s". */
  text: string;
  /** Where it comes from, e.g. "issue 4". */
  source: string;
  on: 'value' | 'ratio';
  op: '<' | '<=' | '>=' | '>';
  threshold: number;
}

/** The figure the metric is compared with, measured in the same run (the raw engine). */
export interface Baseline {
  name: string;
  value: number;
  unit: string;
}

/**
 * One figure. `ratio` is always Tally's speed over the baseline's speed, so above 1 means Tally
 * is faster: value / baseline for rates, baseline / value for times.
 */
export interface Metric {
  name: string;
  value: number;
  unit: string;
  /** `server` or `embedded` where the figure belongs to one ClickHouse back end. */
  backend?: string;
  baseline?: Baseline;
  ratio?: number;
  /** Id of a target in bench/lib/targets.ts; the runner fills `target` and `pass` from it. */
  targetId?: string;
  target?: Target;
  pass?: boolean;
}

/** A point of a growth curve: one back end at one data size. */
export interface GrowthPoint {
  backend: string;
  /** Events in the table. */
  events: number;
  /** 1, 10, 100: the size relative to the smallest. */
  multiple: number;
  ingest: { tallyRowsPerS: number; rawRowsPerS: number };
  latency: { tallyP50Ms: number; rawP50Ms: number; tallyP99Ms: number; rawP99Ms: number };
}

/** What a benchmark script hands the runner (the last stdout line, or parsed by an adapter). */
export interface BenchOutput {
  bench: string;
  metrics: Metric[];
  notes?: string[];
  growth?: GrowthPoint[];
  /** Anything else worth keeping (a script's own detailed JSON). */
  raw?: unknown;
}

/** `skipped`: not part of this mode (quick); `missing`: its script does not exist yet. */
export type BenchStatus = 'ok' | 'failed' | 'timeout' | 'skipped' | 'missing' | 'not-implemented';

export interface BenchResult {
  id: string;
  title: string;
  status: BenchStatus;
  /** The command line, relative to the repository. */
  command?: string;
  durationS?: number;
  exitCode?: number | null;
  /** Why it failed, or what is missing. */
  error?: string;
  metrics: Metric[];
  notes?: string[];
  growth?: GrowthPoint[];
  raw?: unknown;
  /** How long the runner waited for a quiet machine before starting it. */
  quietWait?: { waitedS: number; busy: number; quiet: boolean };
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  os: string;
  kernel: string;
  /** 1-minute load average at the start and the end of the run (the machine may be shared). */
  loadAverage: { start: number; end?: number };
}

export interface Versions {
  node: string;
  tally: string;
  clickhouseServer?: string;
  chdb?: string;
  chdbClickhouse?: string;
  kafka?: string;
  kafkajs?: string;
  clickhouseClient?: string;
}

export interface RunResult {
  schema: 1;
  date: string;
  sha: string;
  /** The working tree had uncommitted changes when the run started. */
  dirty: boolean;
  mode: 'quick' | 'full';
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  versions: Versions;
  /** Services as ensured before the run (or the error). */
  services: string[];
  benchmarks: BenchResult[];
}
