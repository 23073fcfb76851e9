import { describe, expect, it } from 'vitest';
import { latestTick, nextTick } from '../../../src/schedule/cron-ticks.ts';
import { type CronSchedule, parseCron } from '../../../src/schedule/parse-cron.ts';

function schedule(text: string): CronSchedule {
  const p = parseCron(text);
  if (!p.ok) throw new Error(p.message);
  return p.schedule;
}

const at = (iso: string) => new Date(`${iso}Z`);
const iso = (d: Date | undefined) => d?.toISOString().replace('.000Z', '');

describe('parseCron', () => {
  it('reads *, numbers, lists, ranges and steps', () => {
    const s = schedule('*/15 9-17 1,15 * 1-5');
    expect(s.minutes).toEqual([0, 15, 30, 45]);
    expect(s.hours).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect(s.days).toEqual([1, 15]);
    expect(s.months).toHaveLength(12);
    expect(s.weekdays).toEqual([1, 2, 3, 4, 5]);
    expect(s.anyDay).toBe(false);
    expect(s.anyWeekday).toBe(false);
  });

  it('reads a range with a step, a number with a step, and 7 as Sunday', () => {
    const s = schedule('10-30/10 5/6 * 1,6-7 0,7');
    expect(s.minutes).toEqual([10, 20, 30]);
    expect(s.hours).toEqual([5, 11, 17, 23]);
    expect(s.months).toEqual([1, 6, 7]);
    expect(s.weekdays).toEqual([0]);
  });

  it('reads @hourly and @daily, keeping the text', () => {
    expect(schedule('@hourly')).toMatchObject({ text: '@hourly', minutes: [0], hours: expect.any(Array) });
    expect(schedule('@hourly').hours).toHaveLength(24);
    expect(schedule('@daily')).toMatchObject({ minutes: [0], hours: [0] });
  });

  const invalid: Array<[string, string, number]> = [
    [
      '* * * *',
      'a schedule has 5 fields (minute hour day-of-month month day-of-week) or is @hourly / @daily; found 4',
      0,
    ],
    [
      '* * * * * *',
      'a schedule has 5 fields (minute hour day-of-month month day-of-week) or is @hourly / @daily; found 6',
      10,
    ],
    [
      '',
      'a schedule has 5 fields (minute hour day-of-month month day-of-week) or is @hourly / @daily; found 0',
      0,
    ],
    ['@weekly', 'unknown schedule `@weekly`: the shorthands are @hourly and @daily', 0],
    ['60 * * * *', 'minute 60 is out of range 0-59', 0],
    ['0 24 * * *', 'hour 24 is out of range 0-23', 2],
    ['0 0 0 * *', 'day of month 0 is out of range 1-31', 4],
    ['0 0 * 13 *', 'month 13 is out of range 1-12', 6],
    ['0 0 * * 8', 'day of week 8 is out of range 0-7', 8],
    [
      '0 0 * * mon',
      '`mon` is not valid in the day of week field: write a number, a range a-b, a list a,b, * or */n',
      8,
    ],
    ['0 5-2 * * *', 'the hour range `5-2` runs backwards', 2],
    ['*/0 * * * *', 'the step in `*/0` must be a whole number of at least 1', 2],
    ['*/x * * * *', 'the step in `*/x` must be a whole number of at least 1', 2],
    ['1/2/3 * * * *', '`1/2/3` has two steps (/)', 0],
    ['1,,2 * * * *', 'empty item in the minute field `1,,2`', 2],
    [
      '0 1-x * * *',
      '`x` is not valid in the hour field: write a number, a range a-b, a list a,b, * or */n',
      4,
    ],
    [
      '0 0 * 1- *',
      '`` is not valid in the month field: write a number, a range a-b, a list a,b, * or */n',
      8,
    ],
  ];
  it.each(invalid)('refuses %j, locating the problem', (text, message, offset) => {
    expect(parseCron(text)).toEqual({ ok: false, message, offset });
  });
});

describe('ticks', () => {
  it('finds the next tick strictly after an instant', () => {
    const hourly = schedule('@hourly');
    expect(iso(nextTick(hourly, at('2024-03-11T10:00:00')))).toBe('2024-03-11T11:00:00');
    expect(iso(nextTick(hourly, at('2024-03-11T10:59:59')))).toBe('2024-03-11T11:00:00');
    expect(iso(nextTick(hourly, at('2024-12-31T23:30:00')))).toBe('2025-01-01T00:00:00');
    const q = schedule('*/15 9-17 * * *');
    expect(iso(nextTick(q, at('2024-03-11T17:45:00')))).toBe('2024-03-12T09:00:00');
    expect(iso(nextTick(q, at('2024-03-11T09:14:30')))).toBe('2024-03-11T09:15:00');
  });

  it('finds the latest tick at or before an instant (inclusive)', () => {
    const daily = schedule('@daily');
    expect(iso(latestTick(daily, at('2024-03-11T00:00:00')))).toBe('2024-03-11T00:00:00');
    expect(iso(latestTick(daily, at('2024-03-10T23:59:59')))).toBe('2024-03-10T00:00:00');
    const q = schedule('*/15 9-17 * * *');
    expect(iso(latestTick(q, at('2024-03-12T08:00:00')))).toBe('2024-03-11T17:45:00');
  });

  it("applies cron's day rule: weekday alone, day alone, or either when both are given", () => {
    // 2024-03-11 is a Monday.
    expect(iso(nextTick(schedule('0 0 * * 0'), at('2024-03-11T00:00:00')))).toBe('2024-03-17T00:00:00');
    expect(iso(nextTick(schedule('0 0 20 * *'), at('2024-03-11T00:00:00')))).toBe('2024-03-20T00:00:00');
    expect(iso(nextTick(schedule('0 0 20 * 0'), at('2024-03-11T00:00:00')))).toBe('2024-03-17T00:00:00');
    expect(iso(nextTick(schedule('0 0 29 2 *'), at('2024-03-01T00:00:00')))).toBe('2028-02-29T00:00:00');
  });

  it('refuses a schedule that never runs (a day no month it names has), at the day field', () => {
    expect(parseCron('0 0 30 2 *')).toEqual({
      ok: false,
      message: '`0 0 30 2 *` never runs: no month it names has day 30',
      offset: 4,
    });
    expect(parseCron('0 0 31 4,6 *')).toMatchObject({ ok: false, offset: 4 });
    // A weekday, another month, or February 29 makes it run.
    expect(parseCron('0 0 31 2 1').ok).toBe(true);
    expect(parseCron('0 0 31 2,3 *').ok).toBe(true);
    expect(iso(nextTick(schedule('0 0 29 2 *'), at('2025-01-01T00:00:00')))).toBe('2028-02-29T00:00:00');
  });
});
