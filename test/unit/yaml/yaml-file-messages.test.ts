/**
 * The YAML library's errors as Tally words them: its duplicate-key message named neither the key
 * nor the first line, its multiple-documents message advised a programmer, and unquoted brackets
 * in a `{ ... }` value gave no hint.
 */
import { describe, expect, it } from 'vitest';
import type { Problem } from '../../../src/errors.ts';
import { YamlFile } from '../../../src/yaml/yaml-file.ts';

function problem(text: string): Problem | undefined {
  const problems: Problem[] = [];
  YamlFile.parse('p.pipe.yaml', text, problems);
  return problems[0];
}

describe('YAML problems', () => {
  it('a key written twice: the key, where, and the line of the first', () => {
    const p = problem(
      'params:\n  limit: { type: UInt32 }\n  since: { type: DateTime }\n  limit: { type: UInt8 }\n',
    );
    expect(p).toMatchObject({
      code: 'duplicate-key',
      message: 'YAML: key `limit` is written twice in this mapping (first on line 2)',
      location: { file: 'p.pipe.yaml', line: 4, col: 3 },
      hint: 'keep one of them',
    });
    // Only the same mapping counts: a key of a nested mapping of the same name is not the first.
    const nested = problem('a:\n  cache: 1\nb: 2\ncache: 3\ncache: 4\n');
    expect(nested?.message).toBe('YAML: key `cache` is written twice in this mapping (first on line 4)');
  });

  it('a second document: says what `---` did and what to do', () => {
    expect(problem('pipe: balance\n---\ncache: 2s\n')).toMatchObject({
      code: 'yaml-syntax',
      message:
        'YAML: the file holds a second document (a `---` line starts one); a Tally file is one document',
      hint: 'remove the `---` line, or move what follows it to a file of its own',
    });
  });

  it('brackets or quotes unquoted inside a { } value: the hint to quote it', () => {
    for (const line of [
      '  - { name: a, type: String, json: $.account[*].id }',
      "  - { name: a, type: Enum8('a' = 1, 'b' = 2), json: $.x }",
    ]) {
      expect(problem(`columns:\n${line}\n`)?.hint, line).toBe(
        'inside a `{ ... }` mapping, quote a value that holds [ ] { } , or quotes: json: "$.items[0].id"',
      );
    }
    expect(problem('columns:\n  - { name: a, json: "$.account[*].id" }\n')).toBeUndefined();
  });

  it('a `{` or `[` left open: the bracket itself, not the next entry where the library noticed', () => {
    const p = problem(
      'columns:\n  - { name: id, type: String, json: $.id }\n  - { name: n, type: Int64, json: $.n\n  - { name: m, type: Int64 }\nengine: { sorting_key: [id] }\n',
    );
    expect(p).toMatchObject({
      code: 'yaml-syntax',
      message:
        'YAML: this `{` is not closed: a `{ ... }` mapping ends with `}` (the library noticed on line 4)',
      location: { file: 'p.pipe.yaml', line: 3, col: 5 },
      hint: 'add the `}` at the end of the mapping',
    });
    const list = problem('engine:\n  sorting_key: [id, "a]b"\n  type: MergeTree\n');
    expect(list).toMatchObject({ location: { line: 2, col: 16 } });
    expect(list?.message).toMatch(/^YAML: this `\[` is not closed/);
  });
});
