/**
 * The `schedule:` of a copy pipe: a 5-field cron expression in UTC (minute hour day-of-month
 * month day-of-week) or `@hourly` / `@daily`. Pure: no clock, no I/O.
 */

/** A parsed schedule: the allowed values of each field, sorted. */
export interface CronSchedule {
  /** The expression as written. */
  readonly text: string;
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly days: readonly number[];
  readonly months: readonly number[];
  /** 0 = Sunday .. 6 = Saturday (7 is read as Sunday too). */
  readonly weekdays: readonly number[];
  /** Day-of-month was `*`: with a restricted day-of-week, only the weekday decides (cron's rule). */
  readonly anyDay: boolean;
  /** Day-of-week was `*`. */
  readonly anyWeekday: boolean;
}

export type CronParse =
  | { ok: true; schedule: CronSchedule }
  /** `offset`: where in the text the problem is (0-based), for a file:line:col. */
  | { ok: false; message: string; offset: number };

const MACROS: Readonly<Record<string, string>> = { '@hourly': '0 * * * *', '@daily': '0 0 * * *' };

interface Field {
  name: string;
  min: number;
  max: number;
}

const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
];

class CronSyntax extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Days in each month at most (February in a leap year). */
const LONGEST_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Parses a schedule; a problem comes back with the offset of the part that is wrong. */
export function parseCron(text: string): CronParse {
  const trimmed = text.trim();
  const lead = text.length - text.trimStart().length;
  if (trimmed.startsWith('@')) {
    const expanded = MACROS[trimmed];
    if (!expanded) {
      return {
        ok: false,
        message: `unknown schedule \`${trimmed}\`: the shorthands are @hourly and @daily`,
        offset: lead,
      };
    }
    const parsed = parseCron(expanded);
    return parsed.ok ? { ok: true, schedule: { ...parsed.schedule, text } } : parsed;
  }
  const parts = [...text.matchAll(/\S+/g)];
  if (parts.length !== 5) {
    return {
      ok: false,
      message: `a schedule has 5 fields (minute hour day-of-month month day-of-week) or is @hourly / @daily; found ${parts.length}`,
      offset: parts.length > 5 ? parts[5]!.index! : lead,
    };
  }
  try {
    const sets = parts.map((p, i) => parseField(p[0], p.index!, FIELDS[i]!));
    const weekdays = [...new Set(sets[4]!.map((d) => (d === 7 ? 0 : d)))].sort((a, b) => a - b);
    const anyWeekday = parts[4]![0] === '*';
    // Days of the month only (a weekday would match some day): a month without any of them
    // (`0 0 31 2 *`) would never run, which is a mistake, not a schedule.
    if (anyWeekday && !sets[3]!.some((m) => sets[2]!.some((d) => d <= LONGEST_MONTH[m - 1]!))) {
      return {
        ok: false,
        message: `\`${trimmed}\` never runs: no month it names has day ${sets[2]!.join(', ')}`,
        offset: parts[2]!.index!,
      };
    }
    return {
      ok: true,
      schedule: {
        text,
        minutes: sets[0]!,
        hours: sets[1]!,
        days: sets[2]!,
        months: sets[3]!,
        weekdays,
        anyDay: parts[2]![0] === '*',
        anyWeekday,
      },
    };
  } catch (e) {
    if (e instanceof CronSyntax) return { ok: false, message: e.message, offset: e.offset };
    throw e;
  }
}

/** One field: a comma list of `*`, `n`, `a-b`, each optionally `/step`. */
function parseField(text: string, at: number, f: Field): number[] {
  const out = new Set<number>();
  let pos = 0;
  for (const item of text.split(',')) {
    const here = at + pos;
    pos += item.length + 1;
    if (item === '') throw new CronSyntax(`empty item in the ${f.name} field \`${text}\``, here);
    const [range = '', stepText, extra] = item.split('/');
    if (extra !== undefined) throw new CronSyntax(`\`${item}\` has two steps (/)`, here);
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = f.min;
      hi = f.name === 'day of week' ? 6 : f.max;
    } else {
      const dash = range.indexOf('-');
      if (dash === -1) {
        lo = number(range, here, f);
        hi = stepText === undefined ? lo : f.max;
      } else {
        lo = number(range.slice(0, dash), here, f);
        hi = number(range.slice(dash + 1), here + dash + 1, f);
        if (lo > hi) throw new CronSyntax(`the ${f.name} range \`${range}\` runs backwards`, here);
      }
    }
    let step = 1;
    if (stepText !== undefined) {
      const stepAt = here + range.length + 1;
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) {
        throw new CronSyntax(`the step in \`${item}\` must be a whole number of at least 1`, stepAt);
      }
      step = Number(stepText);
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

function number(text: string, at: number, f: Field): number {
  if (!/^\d+$/.test(text)) {
    throw new CronSyntax(
      `\`${text}\` is not valid in the ${f.name} field: write a number, a range a-b, a list a,b, * or */n`,
      at,
    );
  }
  const n = Number(text);
  if (n < f.min || n > f.max) {
    throw new CronSyntax(`${f.name} ${n} is out of range ${f.min}-${f.max}`, at);
  }
  return n;
}
