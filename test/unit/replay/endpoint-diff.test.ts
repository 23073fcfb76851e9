import { describe, expect, it } from 'vitest';
import { diffAnswers, isIdentical } from '../../../src/replay/endpoint-diff.ts';
import { parseExactJson } from '../../../src/util/exact-json.ts';

type Row = Record<string, unknown>;

const cols = ['id', 'url', 'n'];

describe('diffAnswers', () => {
  it('matches rows by the first column when it is distinct: added, removed, changed with the columns', () => {
    const base = [
      { id: 'a', url: '/x', n: 1 },
      { id: 'b', url: '/y', n: 2 },
    ];
    const head = [
      { id: 'b', url: '/z', n: 2 },
      { id: 'c', url: '/x', n: 3 },
    ];
    const d = diffAnswers(base, head, cols);
    expect(d.key).toEqual(['id']);
    expect(d.added).toEqual([{ id: 'c', url: '/x', n: 3 }]);
    expect(d.removed).toEqual([{ id: 'a', url: '/x', n: 1 }]);
    expect(d.changed).toEqual([{ key: { id: 'b' }, base: base[1], head: head[0], columns: ['url'] }]);
    expect(isIdentical(d)).toBe(false);
  });

  it('is identical whatever the order of rows and of object keys', () => {
    const d = diffAnswers(
      [
        { id: 1, url: { a: 1, b: 2 }, n: 0 },
        { id: 2, url: null, n: 0 },
      ],
      [
        { id: 2, url: null, n: 0 },
        { id: 1, url: { b: 2, a: 1 }, n: 0 },
      ],
      cols,
    );
    expect(isIdentical(d)).toBe(true);
    // Said, not counted: an answer without ORDER BY has no fixed order.
    expect(d.orderPartsAt).toBe(1);
    expect(diffAnswers([{ id: 1 }, { id: 2 }], [{ id: 1 }, { id: 2 }], ['id']).orderPartsAt).toBeUndefined();
  });

  it('pairs rows of a given key that repeats whole first: swapped rows are not changes', () => {
    const base = [
      { id: 's1', url: '/a', n: 1 },
      { id: 's1', url: '/b', n: 2 },
      { id: 's2', url: '/c', n: 3 },
    ];
    const swapped = [base[1]!, base[0]!, base[2]!];
    const d = diffAnswers(base, swapped, cols, ['id']);
    expect(isIdentical(d)).toBe(true);
    expect(d.keyRepeats).toBe(true);
    expect(d.orderPartsAt).toBe(1);
    // One real change among the repeats is one change, paired with the row left over.
    const edited = [base[1]!, { id: 's1', url: '/a', n: 9 }, base[2]!];
    const e = diffAnswers(base, edited, cols, ['id']);
    expect(e.changed).toEqual([
      { key: { id: 's1' }, base: base[0], head: { id: 's1', url: '/a', n: 9 }, columns: ['n'] },
    ]);
    expect(e.added).toEqual([]);
    expect(e.removed).toEqual([]);
  });

  it('compares whole rows as multisets when the first column repeats', () => {
    const base = [
      { id: 'a', url: '/x', n: 1 },
      { id: 'a', url: '/x', n: 1 },
    ];
    const head = [
      { id: 'a', url: '/x', n: 1 },
      { id: 'a', url: '/y', n: 1 },
    ];
    const d = diffAnswers(base, head, cols);
    expect(d.key).toEqual([]);
    expect(d.added).toEqual([{ id: 'a', url: '/y', n: 1 }]);
    expect(d.removed).toEqual([{ id: 'a', url: '/x', n: 1 }]);
    expect(d.changed).toEqual([]);
  });

  it('takes a given key, matching repeated keys in order', () => {
    const d = diffAnswers(
      [{ id: 'a', url: '/x', n: 1 }],
      [
        { id: 'a', url: '/x', n: 2 },
        { id: 'a', url: '/y', n: 3 },
      ],
      cols,
      ['id', 'url'],
    );
    expect(d.key).toEqual(['id', 'url']);
    expect(d.changed).toEqual([
      {
        key: { id: 'a', url: '/x' },
        base: { id: 'a', url: '/x', n: 1 },
        head: { id: 'a', url: '/x', n: 2 },
        columns: ['n'],
      },
    ]);
    expect(d.added).toEqual([{ id: 'a', url: '/y', n: 3 }]);
  });
});

describe('diffAnswers on numbers a double cannot hold', () => {
  it('tells apart two UInt64 past 2^53 that JSON.parse would make equal', () => {
    const parse = (u: string) => (parseExactJson(`{"data":[{"id":1,"u":${u}}]}`) as { data: Row[] }).data;
    const d = diffAnswers(parse('18446744073709551615'), parse('18446744073709551614'), ['id', 'u']);
    expect(d.changed.map((c) => c.columns)).toEqual([['u']]);
    expect(
      isIdentical(diffAnswers(parse('18446744073709551615'), parse('18446744073709551615'), ['id', 'u'])),
    ).toBe(true);
  });
});
