/** The instants a CronSchedule names, in UTC: the next one after an instant, the latest at or before it. */
import type { CronSchedule } from './parse-cron.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** How far to look: a schedule with no tick in 5 years (Feb 30) has none at all. */
const HORIZON_DAYS = 366 * 5;

/** The first tick strictly after `after`; undefined when the schedule never fires. */
export function nextTick(s: CronSchedule, after: Date): Date | undefined {
  const from = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  let day = Math.floor(from / DAY) * DAY;
  for (let i = 0; i <= HORIZON_DAYS; i++, day += DAY) {
    if (!dayMatches(s, new Date(day))) continue;
    const firstMinute = i === 0 ? (from - day) / MINUTE : 0;
    for (const h of s.hours) {
      for (const m of s.minutes) {
        if (h * 60 + m >= firstMinute) return new Date(day + (h * 60 + m) * MINUTE);
      }
    }
  }
  return undefined;
}

/** The latest tick at or before `atOrBefore`; undefined when there is none in the horizon. */
export function latestTick(s: CronSchedule, atOrBefore: Date): Date | undefined {
  const to = Math.floor(atOrBefore.getTime() / MINUTE) * MINUTE;
  let day = Math.floor(to / DAY) * DAY;
  for (let i = 0; i <= HORIZON_DAYS; i++, day -= DAY) {
    if (!dayMatches(s, new Date(day))) continue;
    const lastMinute = i === 0 ? (to - day) / MINUTE : 24 * 60 - 1;
    for (let hi = s.hours.length - 1; hi >= 0; hi--) {
      for (let mi = s.minutes.length - 1; mi >= 0; mi--) {
        const at = s.hours[hi]! * 60 + s.minutes[mi]!;
        if (at <= lastMinute) return new Date(day + at * MINUTE);
      }
    }
  }
  return undefined;
}

/** Cron's day rule: with both day fields restricted, either one matching is enough. */
function dayMatches(s: CronSchedule, d: Date): boolean {
  if (!s.months.includes(d.getUTCMonth() + 1)) return false;
  const dom = s.days.includes(d.getUTCDate());
  const dow = s.weekdays.includes(d.getUTCDay());
  if (s.anyDay && s.anyWeekday) return true;
  if (s.anyDay) return dow;
  if (s.anyWeekday) return dom;
  return dom || dow;
}
