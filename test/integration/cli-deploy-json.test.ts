/**
 * `tally deploy --json` that fails while planning (an endpoint setting the server lacks): the
 * failure is one JSON document on stdout, as every command's is, and `error: file:line:col: ...`
 * on stderr; `--check` likewise.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.ts';
import { runCli } from '../support/capture-output.ts';
import { CliDatabases } from '../support/cli-databases.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const databases = new CliDatabases('deployjson');

afterAll(async () => {
  removeProjects();
  await databases.dropAll();
});

const FILES = {
  'tally.yaml': 'name: deploy-json-test\n',
  'datasources/events.datasource.yaml':
    'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
  'pipes/everything.pipe.yaml': 'nodes:\n  - name: q\n    sql: SELECT id FROM events\n',
  'endpoints/everything.endpoint.yaml': 'pipe: everything\nsettings:\n  no_such_setting_q: 1\n',
};

describe.each(BACKENDS)('tally deploy --json failing [%s]', (backend) => {
  for (const check of [false, true]) {
    it(`${check ? 'deploy --check' : 'deploy'}: the failure as a document on stdout, located on stderr`, async () => {
      const dir = writeProject(FILES);
      const argv = ['deploy', ...(check ? ['--check'] : []), '--json', '--project', dir];
      const r = await runCli(argv, databases.env(backend), dir);
      expect(r.code, r.err).toBe(1);
      const doc = JSON.parse(r.out) as { ok: boolean; error: Record<string, unknown> };
      expect(doc).toMatchObject({
        ok: false,
        error: {
          code: 'unsupported-on-server',
          message: expect.stringMatching(/endpoint `everything` sets `no_such_setting_q`/),
          location: { file: 'endpoints/everything.endpoint.yaml', line: 3 },
        },
      });
      expect(r.err).toMatch(
        /^error: endpoints\/everything\.endpoint\.yaml:3:\d+: endpoint `everything` sets/m,
      );
    });
  }
});
