import { describe, expect, it } from 'vitest';
import { checkAnswer, updatedExpectation } from '../../../src/testing/check-answer.ts';
import { sameValue } from '../../../src/testing/compare-values.ts';
import { formatFailure } from '../../../src/testing/format-report.ts';
import { diffContains, diffRows } from '../../../src/testing/row-diff.ts';

describe('sameValue', () => {
  it('takes a number and a string of the same number as equal (64-bit integers quoted by 18.16)', () => {
    expect(sameValue(3, '3')).toBe(true);
    expect(sameValue('97', 97)).toBe(true);
    expect(sameValue(23800.1, '23800.10')).toBe(true);
    expect(sameValue('18446744073709551615', Number('18446744073709551615'))).toBe(true);
    expect(sameValue(3, '3x')).toBe(false);
    expect(sameValue(3, 4)).toBe(false);
  });

  it('compares strings exactly, and null, lists and objects by value', () => {
    expect(sameValue('007', '7')).toBe(false);
    expect(sameValue('a', 'a')).toBe(true);
    expect(sameValue(null, null)).toBe(true);
    expect(sameValue(null, 0)).toBe(false);
    expect(sameValue([1, '2'], ['1', 2])).toBe(true);
    expect(sameValue([1], [1, 2])).toBe(false);
    expect(sameValue({ a: 1 }, { a: '1' })).toBe(true);
    expect(sameValue({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });
});

const row = (id: string, balance: number) => ({ id, balance });

describe('diffRows', () => {
  it('shows one missing row as missing, not every later row as changed (LCS alignment)', () => {
    const expected = [row('a', 1), row('b', 2), row('c', 3), row('d', 4)];
    const actual = [row('a', 1), row('c', 3), row('d', 4)];
    expect(diffRows(expected, actual, true)).toEqual([
      { kind: 'missing', expectedIndex: 1, row: row('b', 2) },
    ]);
  });

  it('lists only the differing fields of a changed row, and extra rows', () => {
    const expected = [row('a', 1), row('b', 2)];
    const actual = [row('a', 1), row('b', 3), row('e', 5)];
    expect(diffRows(expected, actual, true)).toEqual([
      {
        kind: 'changed',
        expectedIndex: 1,
        actualIndex: 1,
        fields: [{ column: 'balance', expected: 2, actual: 3, hasExpected: true, hasActual: true }],
      },
      { kind: 'extra', actualIndex: 2, row: row('e', 5) },
    ]);
  });

  it('reports a column the answer has and the expectation lacks', () => {
    expect(diffRows([{ id: 'a' }], [{ id: 'a', x: 1 }], true)).toEqual([
      {
        kind: 'changed',
        expectedIndex: 0,
        actualIndex: 0,
        fields: [{ column: 'x', actual: 1, hasExpected: false, hasActual: true }],
      },
    ]);
  });

  it('in any order: equal rows match wherever they are; the rest pair by similarity', () => {
    const expected = [row('a', 1), row('b', 2), row('c', 3)];
    const actual = [row('c', 3), row('b', 20), row('a', 1)];
    expect(diffRows(expected, actual, false)).toEqual([
      {
        kind: 'changed',
        expectedIndex: 1,
        actualIndex: 1,
        fields: [{ column: 'balance', expected: 2, actual: 20, hasExpected: true, hasActual: true }],
      },
    ]);
    expect(diffRows(expected, actual, true).length).toBeGreaterThan(1);
  });
});

describe('diffContains', () => {
  it('matches each expected part to a different row (a greedy pick would fail here)', () => {
    const actual = [
      { a: 1, b: 2 },
      { a: 1, b: 3 },
    ];
    expect(diffContains([{ a: 1 }, { a: 1, b: 2 }], actual)).toEqual([]);
    expect(
      diffContains(
        [
          { a: 1, b: 2 },
          { a: 1, b: 2 },
        ],
        actual,
      ),
    ).toEqual([
      {
        kind: 'changed',
        expectedIndex: 1,
        actualIndex: 1,
        fields: [{ column: 'b', expected: 2, actual: 3, hasExpected: true, hasActual: true }],
      },
    ]);
    expect(diffContains([{ z: 9 }], actual)).toEqual([{ kind: 'missing', expectedIndex: 0, row: { z: 9 } }]);
  });
});

describe('checkAnswer', () => {
  it('passes equal rows, and fails with a diff of what differs', () => {
    const expected = { ordered: true, rows: [row('a', 1)] };
    expect(checkAnswer(expected, { status: 200, rows: [{ id: 'a', balance: '1' }] })).toEqual([]);
    const [f] = checkAnswer(expected, { status: 200, rows: [row('a', 2)] });
    expect(f?.message).toBe('rows differ: 1 changed (expected 1 row, got 1)');
    const lines = formatFailure(f!, (_c, s) => s, '');
    expect(lines).toEqual([
      'rows differ: 1 changed (expected 1 row, got 1)',
      '',
      '- expected',
      '+ actual',
      '',
      '  row 1',
      '-   balance: 1',
      '+   balance: 2',
    ]);
  });

  it('checks the status and a part of the error message', () => {
    const expected = { ordered: true, status: 400, error: 'account_id' };
    expect(checkAnswer(expected, { status: 400, error: 'param "account_id" is required' })).toEqual([]);
    expect(checkAnswer(expected, { status: 200, rows: [] }).map((f) => f.message)).toEqual([
      'expected status 400, got 200 with 0 rows',
    ]);
    expect(checkAnswer(expected, { status: 400, error: 'boom' }).map((f) => f.message)).toEqual([
      'expected the error to contain "account_id", got "boom"',
    ]);
    // Without a status, any error status will do.
    expect(checkAnswer({ ordered: true, error: 'x' }, { status: 404, error: 'x y' })).toEqual([]);
    expect(
      checkAnswer({ ordered: true, rows: [] }, { status: 400, error: 'bad' }).map((f) => f.message),
    ).toEqual(['expected status 200, got 400: bad']);
  });

  it('checks row_count and contains', () => {
    const actual = [row('a', 1), row('b', 2)];
    expect(
      checkAnswer({ ordered: true, rowCount: 2, contains: [{ id: 'b' }] }, { status: 200, rows: actual }),
    ).toEqual([]);
    expect(
      checkAnswer({ ordered: true, rowCount: 3, contains: [{ id: 'c' }] }, { status: 200, rows: actual }).map(
        (f) => f.message,
      ),
    ).toEqual(['1 of 1 row expected not found among the 2 rows of the answer', 'expected 3 rows, got 2']);
  });
});

describe('updatedExpectation', () => {
  it('takes the actual rows, keeps contains columns, and refuses an answer of another kind', () => {
    const actual = [row('a', 1), row('b', 2)];
    expect(updatedExpectation({ ordered: true, rows: [] }, { status: 200, rows: actual })).toEqual({
      set: { rows: actual },
    });
    expect(
      updatedExpectation(
        { ordered: true, contains: [{ id: 'b', balance: 5 }], rowCount: 1 },
        { status: 200, rows: actual },
      ),
    ).toEqual({ set: { contains: [{ id: 'b', balance: 2 }], row_count: 2 } });
    expect(
      updatedExpectation({ ordered: true, status: 400, error: 'x' }, { status: 404, error: 'no such' }),
    ).toEqual({
      set: { status: 404, error: 'no such' },
    });
    expect(updatedExpectation({ ordered: true, rows: [] }, { status: 400, error: 'bad' })).toEqual({
      refused: 'the endpoint answered 400 (bad); fix the case or the endpoint',
    });
  });

  it('puts a contains row that resembles no row of the answer in the place of a free one, or refuses', () => {
    const actual = [row('a', 1), row('b', 2)];
    // z shares nothing with the answer: it takes the first row no other expected row matched.
    expect(
      updatedExpectation(
        {
          ordered: true,
          contains: [
            { id: 'a', balance: 1 },
            { id: 'z', balance: 9 },
          ],
        },
        { status: 200, rows: actual },
      ),
    ).toEqual({
      set: {
        contains: [
          { id: 'a', balance: 1 },
          { id: 'b', balance: 2 },
        ],
      },
    });
    // Against an empty answer it would become `contains: []`, which checks nothing.
    expect(
      updatedExpectation({ ordered: true, contains: [{ id: 'z', balance: 9 }] }, { status: 200, rows: [] }),
    ).toEqual({
      refused:
        'row 1 of contains matches no row of the answer, and no row is left to put in its place; write it by hand',
    });
  });
});
