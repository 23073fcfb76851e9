import { basename, dirname } from 'node:path';
import { shellWord } from '../util/shell-word.ts';
import { shownPath } from '../util/shown-path.ts';

/**
 * The command a user typed to run tally, for the lines Tally prints to be copied (`tally init`'s
 * next steps). `script` is process.argv[1]: Node keeps the path it was started with, a link
 * included. Printing `npx tally` everywhere sent a user outside a clone to an unrelated npm package.
 */
export function invokedAs(script: string | undefined, cwd: string): string {
  if (!script) return 'tally';
  // An npm bin shim, a link named after the bin: in a node_modules/.bin (a project's own, or
  // npx's cache) it was reached through npx; elsewhere (a global install, npm link) the PATH has it.
  if (basename(script) === 'tally') {
    const bin = dirname(script);
    return basename(bin) === '.bin' && basename(dirname(bin)) === 'node_modules' ? 'npx tally' : 'tally';
  }
  // The script itself (`node bin/tally.js`, `./bin/tally.js`): through node, which runs it
  // whether or not the file is executable.
  return `node ${shellWord(shownPath(script, cwd))}`;
}
