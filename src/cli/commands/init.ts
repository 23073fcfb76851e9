import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { TallyError } from '../../errors.ts';
import { scaffoldFiles } from '../../init/scaffold.ts';
import { shellWord } from '../../util/shell-word.ts';
import type { Command } from '../command.ts';
import { paint } from '../output.ts';

export const initCommand: Command = {
  name: 'init',
  summary: 'create a new project: a data source, a pipe, an endpoint, a test and a fixture',
  usage: 'tally init [DIR] [--force] [--json] [--project DIR]',
  options: { force: { type: 'boolean' } },
  help: [
    'Writes a minimal working project into DIR (default: the current folder, or --project):',
    'tally.yaml, datasources/events.datasource.yaml, pipes/user_totals.pipe.yaml,',
    'endpoints/user_totals.endpoint.yaml, endpoints/user_totals.test.yaml, fixtures/events.ndjson',
    'and .gitignore. `tally check`, `tally test` and `tally dev` work on it at once.',
    '',
    '  --force   write into a folder that is not empty (files of the same names are replaced,',
    '            other files are left alone)',
  ].join('\n'),
  async run(ctx) {
    if (ctx.args.length > 1) {
      throw new TallyError(
        'bad-args',
        `tally init takes one folder; unexpected \`${ctx.args.slice(1).join(' ')}\``,
      );
    }
    const dir = resolve(ctx.projectDir, ctx.args[0] ?? '.');
    if (existsSync(dir) && !statSync(dir).isDirectory()) {
      throw new TallyError('not-a-folder', `${dir} is a file, not a folder`);
    }
    const present = existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f !== '.git')
          .sort()
      : [];
    if (present.length > 0 && !ctx.flags.force) {
      throw new TallyError(
        'folder-not-empty',
        `${dir} is not empty (${describe(present)}); nothing was written`,
        {
          hint: 'choose an empty or new folder (tally init DIR), or add --force to write beside what is there',
        },
      );
    }
    const name = projectName(basename(dir));
    const files = scaffoldFiles(name);
    const written: string[] = [];
    const replaced: string[] = [];
    for (const [rel, text] of Object.entries(files)) {
      const path = join(dir, rel);
      if (existsSync(path)) replaced.push(rel);
      try {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, text);
      } catch (err) {
        // A parent that is a file, a link to nowhere, no permission: say where, not a stack.
        const done = written.length > 0 ? ` (written before it: ${written.join(', ')})` : '';
        throw new TallyError('cannot-write', `cannot write ${path}: ${(err as Error).message}${done}`, {
          hint: 'choose a folder you can write to (tally init DIR)',
        });
      }
      written.push(rel);
    }
    const rel = relative(process.cwd(), dir);
    const where = rel === '' ? '.' : rel.startsWith('..') ? dir : rel;
    if (ctx.json) {
      ctx.io.out(JSON.stringify({ ok: true, dir, name, files: written, replaced }, null, 2));
      return 0;
    }
    ctx.io.out(paint(ctx.io, 'green', `✓ created the project \`${name}\` in ${where}`));
    for (const rel of written)
      ctx.io.out(`  ${rel}${replaced.includes(rel) ? paint(ctx.io, 'yellow', ' (replaced)') : ''}`);
    // From here, run as the user ran this one: no `cd`, which would break a relative
    // `node bin/tally.js` or leave the folder where npx finds tally.
    // Quoted when the shell would split it: the lines are meant to be copied.
    const project = where === '.' ? '' : ` --project ${shellWord(where)}`;
    const tally = ctx.invokedAs;
    ctx.io.out('');
    ctx.io.out('Next:');
    ctx.io.out(`  ${tally} test${project}     run the endpoint tests on the fixtures`);
    ctx.io.out(
      `  ${tally} dev${project}      serve http://127.0.0.1:7070/v0/pipes/user_totals.json?user_id=u1`,
    );
    return 0;
  },
};

/** The folder's name as a project name: letters, digits, `-` and `_`. */
function projectName(folder: string): string {
  const n = folder.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return n || 'my-project';
}

function describe(entries: readonly string[]): string {
  const shown = entries.slice(0, 3).join(', ');
  return entries.length > 3 ? `${shown} and ${entries.length - 3} more` : shown;
}
