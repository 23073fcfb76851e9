import { expect, it } from 'vitest';
import { shownPath } from '../../../src/util/shown-path.ts';

it('shows a folder inside the shell folder relative to it, any other absolute', () => {
  expect(shownPath('/work/shop/.tally/chdb', '/work')).toBe('shop/.tally/chdb');
  expect(shownPath('shop/.tally/chdb', '/work')).toBe('shop/.tally/chdb');
  expect(shownPath('/tmp/tally-test-1/chdb', '/work/shop')).toBe('/tmp/tally-test-1/chdb');
  expect(shownPath('../other/.tally/chdb', '/work/shop')).toBe('/work/other/.tally/chdb');
  expect(shownPath('/work', '/work')).toBe('/work');
});
