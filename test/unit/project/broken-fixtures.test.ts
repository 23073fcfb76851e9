import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProject } from '../../../src/project/load-project.ts';

/**
 * One tiny broken project per validation rule under test/fixtures/broken/<rule>/. Each test
 * asserts every problem the loader returns: severity, code, file:line:col and the exact message.
 */
const FIXTURES = join(import.meta.dirname, '../../fixtures/broken');

/** `file:line:col: severity [code] message` */
type Expected = string;

const CASES: Record<string, Expected[]> = {
  'copy-problems': [
    'endpoints/snap.endpoint.yaml:1:7: error [endpoint-copy-pipe] endpoint `snap` reads pipe `unknown_target`, which copies into `total` on a schedule; a copy pipe cannot serve an endpoint',
    'pipes/bad_schedule.pipe.yaml:4:40: error [invalid-schedule] copy.schedule: month 13 is out of range 1-12',
    'pipes/both.pipe.yaml:5:1: error [copy-and-materialize] a pipe either materializes (on every insert) or copies (on a schedule), not both',
    'pipes/both.pipe.yaml:5:32: error [invalid-schedule] copy.schedule: unknown schedule `@weekly`: the shorthands are @hourly and @daily',
    'pipes/both.pipe.yaml:5:42: error [unknown-key] unknown key `every` in `copy`',
    // Copies into its namesake: the refused schedule is the one problem (not a name clash too).
    'pipes/totals.pipe.yaml:4:32: error [invalid-schedule] copy.schedule: minute 61 is out of range 0-59',
    'pipes/unknown_target.pipe.yaml:4:13: error [unknown-reference] pipe `unknown_target` copies into unknown data source `total` (did you mean `totals`?)',
    'pipes/wrong_columns.pipe.yaml:1:1: error [copy-params] a copy pipe cannot declare params: Tally gives it `snapshot_at` and `settled_before`, and nothing else',
    'pipes/wrong_columns.pipe.yaml:7:69: error [undeclared-param] param `day` is used in node `t` but not declared',
    'pipes/wrong_columns.pipe.yaml:9:7: error [copy-columns] the columns of node `t` do not match data source `totals`: missing `total`; not in the data source `totl` (did you mean `total`?)',
    'pipes/wrong_columns.pipe.yaml:11:11: error [expected-number] copy.settle (seconds) must be an integer >= 0',
  ],
  'duplicate-column': [
    'datasources/events.datasource.yaml:2:38: error [duplicate-column] kafka metadata `__offset` clashes with a column of the same name',
    'datasources/events.datasource.yaml:5:5: error [duplicate-column] column `id` is defined twice (first on line 4)',
  ],
  'duplicate-name': [
    'pipes/events.pipe.yaml:1:1: error [duplicate-name] pipe `events` has the same name as data source `events` (datasources/events.datasource.yaml); data sources and pipes share one namespace',
  ],
  'duplicate-node': [
    'pipes/totals.pipe.yaml:4:11: error [duplicate-node] node `t` is defined twice in this pipe (first on line 2)',
  ],
  'endpoint-materialized-pipe': [
    'endpoints/copy.endpoint.yaml:1:7: error [endpoint-materialized-pipe] endpoint `copy` reads pipe `copy`, which materializes into `copy`; a materialized pipe cannot serve an endpoint',
  ],
  'engine-key-mismatch': [
    'datasources/events.datasource.yaml:7:3: error [engine-key-mismatch] `version` applies only to ReplacingMergeTree, and this engine is MergeTree',
  ],
  'invalid-default': [
    'datasources/events.datasource.yaml:6:14: error [invalid-default] default of column `qty`: expected an integer from 0 to 255 (UInt8), got "lots"',
    'datasources/events.datasource.yaml:10:14: error [invalid-default] default of column `code`: expected a string, got 5',
  ],
  'invalid-dedup-key': [
    'datasources/events.datasource.yaml:3:5: error [invalid-dedup-key] dedup_key column `score` of `events` has type Float64; a dedup key column must be String, an integer, Date, DateTime, UUID or Enum (not Nullable)',
    'datasources/events.datasource.yaml:4:5: error [invalid-dedup-key] dedup_key column `received_at` of `events` is computed by default_expr; the key must come from the event',
  ],
  'invalid-json-path': [
    'datasources/events.datasource.yaml:4:18: error [invalid-json-path] invalid JSONPath `$.user[*].id`: wildcards are not supported: name one key or index',
    'datasources/events.datasource.yaml:7:11: error [invalid-json-path] `json: $` stores the whole event as text, so the column must be String, not UInt64',
  ],
  'invalid-name': [
    'datasources/events_quarantine.datasource.yaml:1:1: error [invalid-name] data source name `events_quarantine` ends with `_quarantine`, which is reserved for quarantine tables',
    "datasources/tally_events.datasource.yaml:1:1: error [invalid-name] data source name `tally_events` starts with `tally_`, which is reserved for Tally's own tables",
    'pipes/my-pipe.pipe.yaml:1:1: error [invalid-name] pipe name `my-pipe` (from the file name) must be letters, digits and underscores, not starting with a digit',
  ],
  'invalid-param-value': [
    'pipes/totals.pipe.yaml:2:34: error [invalid-param-value] default of param `limit`: expected an integer from 0 to 255 (UInt8), got 500',
    'pipes/totals.pipe.yaml:3:31: error [invalid-param-value] default of param `day`: expected a date such as 2024-03-12 (years 1970 to 2105), got "2024-13-01"',
    'pipes/totals.pipe.yaml:4:58: error [invalid-param-value] default of param `status` (opne) is not one of its enum values (did you mean `open`?)',
  ],
  'invalid-type': [
    'datasources/events.datasource.yaml:5:20: error [invalid-type] Nullable cannot contain Array',
    'datasources/events.datasource.yaml:7:24: error [invalid-type] Decimal: the scale must be an integer from 0 to 10',
  ],
  'materialize-columns': [
    'pipes/daily.pipe.yaml:7:7: error [materialize-columns] the columns of node `agg` do not match data source `daily`: missing `total`, `events`; not in the data source `totl` (did you mean `total`?)',
  ],
  'materialize-cycle': [
    'pipes/b_to_a.pipe.yaml:4:20: error [materialize-cycle] materialized pipes form a cycle: a -> (pipe a_to_b) -> b -> (pipe b_to_a) -> a',
  ],
  'materialize-params': [
    'pipes/copy.pipe.yaml:1:1: error [materialize-params] a materialized pipe cannot have params: it runs on every insert, with no request to take values from',
  ],
  'materialize-reads-target': [
    'pipes/loop.pipe.yaml:3:25: error [materialize-reads-target] node `n` reads `a`, the data source this pipe materializes into; every insert would feed itself',
  ],
  'materialize-unknown-target': [
    'pipes/copy.pipe.yaml:4:20: error [unknown-reference] pipe `copy` materializes into unknown data source `event` (did you mean `events`?)',
  ],
  'missing-key': [
    // Once: not also "kafka topic must be a string" at 1:1.
    'datasources/clicks.datasource.yaml:2:10: error [missing-key] `source.kafka` needs `topic`',
    'datasources/events.datasource.yaml:1:1: error [missing-key] data source `events` needs `engine`',
    'datasources/events.datasource.yaml:2:5: error [missing-key] column `id` needs `type`',
  ],
  'node-cycle': [
    'pipes/totals.pipe.yaml:3:24: error [node-cycle] node `first` reads `second`, which comes after it in the pipe',
    'pipes/totals.pipe.yaml:5:36: error [node-cycle] node `second` reads itself',
  ],
  'reads-pipe': [
    'pipes/totals.pipe.yaml:3:35: error [unknown-reference] node `t` reads pipe `base`; nodes read data sources and earlier nodes, not other pipes',
  ],
  'template-unclosed': ['pipes/totals.pipe.yaml:7:7: error [template-unclosed] `{% if %}` is never closed'],
  'template-unknown-tag': [
    'pipes/totals.pipe.yaml:7:58: error [template-unknown-tag] unknown tag `{% endif %}`',
  ],
  'token-lists-unknown-name': [
    'tally.yaml:5:25: error [unknown-reference] token `dashboard` lists unknown endpoint `totls` (did you mean `totals`?)',
    'tally.yaml:6:53: error [unknown-reference] token `writer` lists unknown data source `event` (did you mean `events`?)',
  ],
  'undeclared-param': [
    'pipes/totals.pipe.yaml:2:3: warning [unused-param] param `account` is declared but no node uses it',
    'pipes/totals.pipe.yaml:7:18: error [undeclared-param] param `acount` is used in node `t` but not declared (did you mean `account`?)',
    'pipes/totals.pipe.yaml:8:7: error [undeclared-param] param `since` is used in node `t` but not declared',
  ],
  'unexpected-file': [
    'datasources/events.yaml:1:1: warning [unexpected-file] datasources/events.yaml is ignored: files in datasources/ must end in .datasource.yaml',
  ],
  'unknown-column': [
    'datasources/events.datasource.yaml:6:12: error [unknown-column] version names unknown column `updated_at`',
    'datasources/events.datasource.yaml:7:33: error [unknown-column] sorting_key names unknown column `tiemstamp`',
    'datasources/events.datasource.yaml:8:13: error [unknown-column] dedup_key names unknown column `event_id`',
  ],
  'unknown-datasource': [
    'pipes/totals.pipe.yaml:5:12: error [unknown-reference] node `t` reads unknown table `transaction` (did you mean `transactions`?)',
  ],
  'unknown-engine': [
    'datasources/events.datasource.yaml:4:9: error [unknown-engine] unknown engine `ReplacingMergTree` (did you mean `ReplacingMergeTree`?)',
  ],
  'unknown-key': [
    'datasources/events.datasource.yaml:3:36: error [unknown-key] unknown key `jsn` in column (did you mean `json`?)',
  ],
  'unknown-node': [
    'pipes/totals.pipe.yaml:5:35: error [unknown-reference] node `counted` reads unknown table `filterd` (did you mean `filtered`?)',
  ],
  'unknown-pipe': [
    'endpoints/totals.endpoint.yaml:2:7: error [unknown-reference] endpoint `totals` reads unknown pipe `total` (did you mean `totals`?)',
  ],
  'unknown-token': [
    'endpoints/totals.endpoint.yaml:2:8: error [unknown-token] token `dashbord` is neither a scope (admin, read) nor a token in tally.yaml (did you mean `dashboard`?)',
  ],
  'endpoint-append-token': [
    'endpoints/by_name.endpoint.yaml:2:8: error [endpoint-append-token] token `ingester` has scope append, which cannot call an endpoint: append tokens only post events',
    'endpoints/by_scope.endpoint.yaml:2:8: error [endpoint-append-token] scope `append` cannot call an endpoint: append tokens only post events',
    // No "did you mean" an append token.
    'endpoints/typo.endpoint.yaml:2:8: error [unknown-token] token `ingestr` is neither a scope (admin, read) nor a token in tally.yaml',
  ],
  'unknown-type': [
    'datasources/events.datasource.yaml:2:23: error [unknown-type] unknown ClickHouse type `Strng` (did you mean `String`?)',
    'datasources/events.datasource.yaml:4:32: error [unknown-type] unknown ClickHouse type `Sting` (did you mean `String`?)',
  ],
  'unsupported-param-type': [
    'pipes/totals.pipe.yaml:2:17: error [unsupported-param-type] param `tags` cannot be Map(String, String)',
  ],
  'unused-param': [
    'pipes/totals.pipe.yaml:3:3: warning [unused-param] param `limit` is declared but no node uses it',
  ],
  'wrong-value-type': [
    'endpoints/totals.endpoint.yaml:2:8: error [expected-duration] cache must be a duration such as 500ms, 2s, 5m, 1h or 1d',
    'pipes/totals.pipe.yaml:2:42: error [expected-boolean] required of param `min_amount` must be true or false',
  ],
  'yaml-syntax': [
    // The `{` left open, not the next line where the parser noticed.
    'datasources/events.datasource.yaml:2:5: error [yaml-syntax] YAML: this `{` is not closed: a `{ ... }` mapping ends with `}` (the library noticed on line 3)',
  ],
};

describe('broken projects: one per rule, every problem located', () => {
  it.each(Object.entries(CASES))('%s', (rule, expected) => {
    const { project, problems } = loadProject(join(FIXTURES, rule), { env: {} });
    const got = problems.map(
      (p) =>
        `${p.location?.file}:${p.location?.line}:${p.location?.col}: ${p.severity} [${p.code}] ${p.message}`,
    );
    if (rule === 'yaml-syntax') {
      // The parser's own wording may change between yaml releases; its location and code do not.
      expect(got.map((g) => g.replace(/ YAML: .*/, ''))).toEqual(
        expected.map((e) => e.replace(/ YAML: .*/, '')),
      );
    } else {
      expect(got).toEqual(expected);
    }
    const hasError = expected.some((e) => e.includes(': error ['));
    expect(project === undefined).toBe(hasError);
  });

  it('gives hints that say what to do', () => {
    const hint = (rule: string, code: string) =>
      loadProject(join(FIXTURES, rule), { env: {} }).problems.find((p) => p.code === code)?.hint;
    expect(hint('unknown-key', 'unknown-key')).toBe(
      'allowed keys: name, type, json, default, default_expr, comment',
    );
    expect(hint('invalid-type', 'invalid-type')).toBe('write Array(Nullable(...)) to allow NULL elements');
    expect(hint('node-cycle', 'node-cycle')).toBe(
      'move node second above first; a node reads only the nodes above it',
    );
    expect(hint('engine-key-mismatch', 'engine-key-mismatch')).toBe(
      'set type: ReplacingMergeTree, or remove version',
    );
    expect(hint('template-unknown-tag', 'template-unknown-tag')).toBe('close an if with `{% end %}`');
    expect(loadProject(join(FIXTURES, 'invalid-default'), { env: {} }).problems.map((p) => p.hint)).toEqual([
      'for a computed default write default_expr, e.g. default_expr: now()',
      'write "5" in quotes for the text 5',
    ]);
    expect(hint('unexpected-file', 'unexpected-file')).toBe('rename it to events.datasource.yaml');
    expect(hint('materialize-columns', 'materialize-columns')).toBe(
      'data source daily has day, total, events, note; name each selected column after one (AS name)',
    );
  });

  it('has a fixture for every rule it tests', async () => {
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(FIXTURES).sort()).toEqual(Object.keys(CASES).sort());
  });
});
