import type { Metric } from './result-schema.ts';

/**
 * Builders for metrics, so the ratio always means the same thing: Tally's speed over the
 * baseline's speed (above 1: Tally is faster).
 */

interface Common {
  backend?: string;
  targetId?: string;
}

/** A rate (rows/s, req/s, MB/s): higher is better; ratio = value / baseline. */
export function rateMetric(
  name: string,
  value: number,
  unit: string,
  baseline?: { name: string; value: number },
  common: Common = {},
): Metric {
  return {
    name,
    value,
    unit,
    ...common,
    ...(baseline
      ? { baseline: { ...baseline, unit }, ratio: baseline.value > 0 ? value / baseline.value : Number.NaN }
      : {}),
  };
}

/** A duration (ms, s): lower is better; ratio = baseline / value. */
export function timeMetric(
  name: string,
  value: number,
  unit: string,
  baseline?: { name: string; value: number },
  common: Common = {},
): Metric {
  return {
    name,
    value,
    unit,
    ...common,
    // A zero on either side is below the tool's resolution (autocannon counts whole ms): no ratio.
    ...(baseline
      ? {
          baseline: { ...baseline, unit },
          ratio: value > 0 && baseline.value > 0 ? baseline.value / value : Number.NaN,
        }
      : {}),
  };
}

/** A plain figure with no baseline (memory, CPU time). */
export function plainMetric(name: string, value: number, unit: string, common: Common = {}): Metric {
  return { name, value, unit, ...common };
}

/** Prints the machine-readable result as the last stdout line (what bench/run.ts reads). */
export function emitResult(output: {
  bench: string;
  metrics: Metric[];
  notes?: string[];
  [k: string]: unknown;
}): void {
  process.stdout.write(`${JSON.stringify(output)}\n`);
}
