import { describe, expect, it } from 'vitest';
import {
  closingParen,
  scanOutsideQuotes,
  splitTopLevel,
  topLevelKeyword,
} from '../../../src/util/sql-text-scan.ts';

describe('sql-text-scan', () => {
  it('splits on commas outside parentheses and every kind of quote', () => {
    expect(splitTopLevel('a, f(b, c), \'x,y\', `p,q`, "r,s"')).toEqual([
      'a',
      ' f(b, c)',
      " 'x,y'",
      ' `p,q`',
      ' "r,s"',
    ]);
  });

  it('skips an escaped quote inside quoted text', () => {
    expect(splitTopLevel("'it\\'s, here', b")).toEqual(["'it\\'s, here'", ' b']);
    expect(splitTopLevel('`a\\`b,c`, d')).toEqual(['`a\\`b,c`', ' d']);
    // A bracket inside a string does not open anything.
    expect(splitTopLevel("'(', b")).toEqual(["'('", ' b']);
  });

  it('gives one part for text without a top-level comma, and empty parts as they are', () => {
    expect(splitTopLevel('')).toEqual(['']);
    expect(splitTopLevel('f(a, b)')).toEqual(['f(a, b)']);
    expect(splitTopLevel('a,,b')).toEqual(['a', '', 'b']);
  });

  it('finds the closing bracket, not one in a string or a nested pair', () => {
    const s = "(a, g(')'), (b)) TTL x";
    expect(closingParen(s, 0)).toBe(s.indexOf(') TTL'));
    expect(closingParen('(a, (b)', 0)).toBe(-1);
  });

  it('finds a keyword only at the top level and outside quotes', () => {
    const s = "MergeTree ORDER BY (a) TTL f(' SETTINGS ') SETTINGS index_granularity = 8192";
    expect(topLevelKeyword(s, 'SETTINGS')).toBe(s.lastIndexOf(' SETTINGS '));
    expect(topLevelKeyword('f( TTL x)', 'TTL')).toBe(-1);
    expect(topLevelKeyword('aTTL b', 'TTL')).toBe(-1);
  });

  it('runs an unclosed quote to the end of the text', () => {
    expect(splitTopLevel("a, 'b, c")).toEqual(['a', " 'b, c"]);
    expect(scanOutsideQuotes("'open", 0, () => true)).toBe(-1);
  });
});
