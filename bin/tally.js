#!/usr/bin/env node
// The `tally` command. Sources are TypeScript run through tsx's loader, so a fresh clone works
// right after `npm install` with no build step, and an edited file is what runs next time.
import { register } from 'tsx/esm/api';

register();
const { runMain } = await import('../src/cli/main.ts');
process.exitCode = await runMain(process.argv.slice(2));
// The command has finished and cleaned up; a client library still retrying in the background
// (an unreachable broker, say) must not keep the process alive for its whole retry budget.
setTimeout(() => process.exit(), 3000).unref();
