#!/usr/bin/env -S node --max-semi-space-size=4
// The `tally` command. Sources are TypeScript; they run bundled by esbuild (cli-bundle.js, rebuilt
// when a source changes), else through tsx's loader, so a fresh clone works right after
// `npm install` with no build step, and an edited file is what runs next time.
// The V8 flag above (the only way to give it without a second process): a 4 MB young generation
// instead of Node's 16 MB keeps an ingester's peak RSS at about 280 MB instead of 330 - 420 MB
// through a 1M-event backlog, at the same rate (bench/ingest.ts). `node bin/tally.js` skips it.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledMain } from './cli-bundle.js';

// Where Tally is, as this file sees it (a bundle chunk's own URL is its real path, which differs
// when node_modules is a link): src/services/package-root.ts reads it.
globalThis[Symbol.for('tally.root')] = join(dirname(fileURLToPath(import.meta.url)), '..');

let runMain;
const bundled = await bundledMain();
if (bundled) {
  try {
    ({ runMain } = await import(bundled));
  } catch {
    // A build whose files were removed under it: the sources through tsx instead.
  }
}
if (!runMain) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ runMain } = await import('../src/cli/main.ts'));
}
process.exitCode = await runMain(process.argv.slice(2));
// The command has finished and cleaned up; a client library still retrying in the background
// (an unreachable broker, say) must not keep the process alive for its whole retry budget.
setTimeout(() => process.exit(), 3000).unref();
