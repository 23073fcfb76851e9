import { describe, expect, it } from 'vitest';
import { jsonPathText, parseJsonPath } from '../../../src/project/json-path.ts';

describe('parseJsonPath', () => {
  it.each([
    ['$', [], '$'],
    ['$.a', ['a'], '$.a'],
    ['$.a.b', ['a', 'b'], '$.a.b'],
    ['$.a[0].b', ['a', 0, 'b'], '$.a[0].b'],
    ['$.items[12]', ['items', 12], '$.items[12]'],
    ["$['key with space']", ['key with space'], "$['key with space']"],
    ['$["double"]', ['double'], '$.double'],
    ["$['it\\'s']", ["it's"], "$['it\\'s']"],
    ['$.user-agent', ['user-agent'], "$['user-agent']"],
    ['$.$type', ['$type'], '$.$type'],
    ["$.a['b.c'][1]", ['a', 'b.c', 1], "$.a['b.c'][1]"],
  ])('%s', (text, segments, canonical) => {
    expect(parseJsonPath(text)).toEqual({ ok: true, path: { text: canonical, segments } });
  });

  it.each([
    ['a.b', 'a JSONPath starts with `$`, e.g. $.amount', 0],
    ['$.', 'expected a key name after `.`', 2],
    ['$..a', 'expected a key name after `.`', 2],
    ['$.a.*', 'wildcards are not supported: name one key or index', 4],
    ['$[*]', 'wildcards are not supported: name one key or index', 2],
    ['$.a[-1]', 'array indexes start at 0 and cannot be negative', 4],
    ['$.a[x]', "expected an index such as [0] or a quoted key such as ['my key']", 4],
    ['$.a[0', 'expected `]` after the index', 5],
    ["$['a'", 'expected `]` after the quoted key', 5],
    ["$['a", 'unterminated single-quoted key', 2],
    ['$a', "unexpected `a`: continue the path with .key, [0] or ['key']", 1],
  ])('%s is an error', (text, message, offset) => {
    expect(parseJsonPath(text)).toEqual({ ok: false, message, offset });
  });

  it('renders canonical text from segments', () => {
    expect(jsonPathText(['a', 0, 'b c', "q'"])).toBe("$.a[0]['b c']['q\\'']");
  });
});
