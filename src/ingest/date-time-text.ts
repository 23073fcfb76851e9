/**
 * Dates and times as ClickHouse stores them, read strictly from event values. Times without a
 * zone are read in the column's time zone (`DateTime('Europe/Berlin')`), else in UTC, whatever
 * the server's zone; the result is epoch seconds, which ClickHouse reads without a zone.
 */

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
const EPOCH_TEXT = /^\d+(?:\.\d+)?$/;

/** Epoch values below this are seconds, from it up milliseconds (1e11 s is in the year 5138). */
export const EPOCH_MILLIS_FROM = 1e11;
/** DateTime is a UInt32 of seconds. */
export const DATE_TIME_MAX = 4294967295;

/** Days since 1970-01-01 for a valid `YYYY-MM-DD`, else undefined. */
export function parseDateDays(text: string): number | undefined {
  const m = DATE.exec(text);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (!validDate(y, mo, d)) return undefined;
  return utcMillis(y, mo - 1, d) / 86_400_000;
}

/** 400 Gregorian years, in milliseconds: exactly 146,097 days. */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/**
 * `Date.UTC` for any year: `Date.UTC` reads years 0 - 99 as 1900 - 1999, which turned
 * `0099-12-31` into a valid 1999 date instead of one out of range.
 */
export function utcMillis(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  return y >= 100 ? Date.UTC(y, mo, d, h, mi, s) : Date.UTC(y + 400, mo, d, h, mi, s) - FOUR_CENTURIES_MS;
}

export type DateTimeParse = { ok: true; seconds: number } | { ok: false; reason: 'syntax' | 'range' };

/**
 * `YYYY-MM-DD hh:mm:ss` (or with `T`), optional fraction (dropped: DateTime holds whole seconds),
 * optional `Z` / `+hh:mm` / `+hhmm` / `+hh`; or epoch seconds or milliseconds as digit text.
 */
export function parseDateTimeText(text: string, zone: ZoneReader | undefined): DateTimeParse {
  if (text.length >= 19 && DATE_TIME.test(text)) {
    const y = digits(text, 0, 4);
    const mo = digits(text, 5, 2);
    const d = digits(text, 8, 2);
    const h = digits(text, 11, 2);
    const mi = digits(text, 14, 2);
    const s = digits(text, 17, 2);
    if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 59) return { ok: false, reason: 'syntax' };
    const wall = utcMillis(y, mo - 1, d, h, mi, s) / 1000;
    let seconds: number;
    const z = zoneText(text);
    if (z === undefined) seconds = zone ? zone.toUtc(wall) : wall;
    else if (z === 'Z') seconds = wall;
    else {
      const sign = z[0] === '-' ? -1 : 1;
      const oh = digits(z, 1, 2);
      const om = z.length > 3 ? digits(z, z.length - 2, 2) : 0;
      if (oh > 23 || om > 59) return { ok: false, reason: 'syntax' };
      seconds = wall - sign * (oh * 3600 + om * 60);
    }
    return inRange(seconds);
  }
  if (EPOCH_TEXT.test(text)) return epochSeconds(Number(text));
  return { ok: false, reason: 'syntax' };
}

/** The zone of text DATE_TIME matched (`Z`, `+02:00`...), after the seconds and any fraction. */
function zoneText(text: string): string | undefined {
  let i = 19;
  if (text.charCodeAt(i) === 46) {
    // '.', then the fraction's digits
    i++;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  }
  return i < text.length ? text.slice(i) : undefined;
}

export type DateTime64Parse =
  | { ok: true; text: string }
  | { ok: false; reason: 'syntax' | 'range' | 'precision' };

/** DateTime64 as Tally writes it: from 1970 (epoch text has no sign) up to the type's last day. */
const DATE_TIME64_MAX = Date.UTC(2300, 0, 1) / 1000 - 1;
const DATE_TIME_PARTS = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * A DateTime64(`precision`) value as the text ClickHouse reads exactly: epoch seconds with
 * `precision` fraction digits (`"1546300800.123"`). Accepts what `parseDateTimeText` accepts,
 * keeping the fraction (more digits than `precision` only when the extra ones are zeros), and
 * epoch numbers: seconds, with a fraction, or milliseconds from 1e11 on.
 */
export function parseDateTime64Text(
  text: string,
  precision: number,
  zone: ZoneReader | undefined,
  fromNumber: boolean,
): DateTime64Parse {
  let seconds: number;
  let fraction: string;
  const m = !fromNumber && text.length >= 19 ? DATE_TIME_PARTS.exec(text) : null;
  if (m) {
    const whole = parseDateTimeText(text.slice(0, 19) + (m[2] ?? ''), zone);
    if (!whole.ok && whole.reason === 'syntax') return whole;
    // parseDateTimeText stops at DateTime's range; the wider one is checked below.
    seconds = whole.ok ? whole.seconds : wallSeconds(text, m[2], zone);
    fraction = m[1] ?? '';
  } else if (EPOCH_TEXT.test(text)) {
    const [int = '', frac = ''] = text.split('.');
    if (Number(int) >= EPOCH_MILLIS_FROM) {
      const digits = int + frac;
      const cut = int.length - 3;
      seconds = Number(digits.slice(0, cut));
      fraction = digits.slice(cut);
    } else {
      seconds = Number(int);
      fraction = frac;
    }
  } else return { ok: false, reason: /^-\d/.test(text) ? 'range' : 'syntax' };
  if (fraction.length > precision) {
    if (/[^0]/.test(fraction.slice(precision))) return { ok: false, reason: 'precision' };
    fraction = fraction.slice(0, precision);
  }
  if (!Number.isSafeInteger(seconds) || seconds < 0 || seconds > DATE_TIME64_MAX)
    return { ok: false, reason: 'range' };
  return {
    ok: true,
    text: precision === 0 ? String(seconds) : `${seconds}.${fraction.padEnd(precision, '0')}`,
  };
}

/** Epoch seconds of a `YYYY-MM-DD hh:mm:ss` text (already checked) with its zone part, unbounded. */
function wallSeconds(text: string, z: string | undefined, zone: ZoneReader | undefined): number {
  const wall =
    utcMillis(
      digits(text, 0, 4),
      digits(text, 5, 2) - 1,
      digits(text, 8, 2),
      digits(text, 11, 2),
      digits(text, 14, 2),
      digits(text, 17, 2),
    ) / 1000;
  if (z === undefined) return zone ? zone.toUtc(wall) : wall;
  if (z === 'Z') return wall;
  const sign = z[0] === '-' ? -1 : 1;
  const om = z.length > 3 ? digits(z, z.length - 2, 2) : 0;
  return wall - sign * (digits(z, 1, 2) * 3600 + om * 60);
}

/** The number written by `n` ASCII digits at `at` (the caller's regex checked they are digits). */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) v = v * 10 + (s.charCodeAt(i) - 48);
  return v;
}

/** Epoch seconds or milliseconds (by magnitude) to whole seconds. */
export function epochSeconds(v: number): DateTimeParse {
  if (!Number.isFinite(v) || v < 0) return { ok: false, reason: 'range' };
  return inRange(Math.floor(v < EPOCH_MILLIS_FROM ? v : v / 1000));
}

function inRange(seconds: number): DateTimeParse {
  return seconds >= 0 && seconds <= DATE_TIME_MAX ? { ok: true, seconds } : { ok: false, reason: 'range' };
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validDate(y: number, mo: number, d: number): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return d <= MONTH_DAYS[mo - 1]! + (leap ? 1 : 0);
}

/** Converts wall-clock time in one IANA zone to UTC, through Intl (no time zone data of our own). */
export class ZoneReader {
  private readonly fmt: Intl.DateTimeFormat;

  constructor(readonly zone: string) {
    // Throws RangeError for an unknown zone.
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** `wall` is the wall-clock time read as if it were UTC; returns the true UTC seconds. */
  toUtc(wall: number): number {
    const first = wall - this.offset(wall);
    // A second pass settles times near a DST change; in a gap or overlap the earlier offset wins.
    return wall - this.offset(first);
  }

  /** Seconds the zone is ahead of UTC at the instant `utc`. */
  private offset(utc: number): number {
    const p: Record<string, number> = {};
    for (const part of this.fmt.formatToParts(new Date(utc * 1000))) {
      if (part.type !== 'literal') p[part.type] = Number(part.value);
    }
    return utcMillis(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) / 1000 - utc;
  }
}
