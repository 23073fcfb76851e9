#!/usr/bin/env node
// The `tally` command. Sources are TypeScript run through tsx's loader, so a fresh clone works
// right after `npm install` with no build step, and an edited file is what runs next time.
import { register } from 'tsx/esm/api';

register();
const { runMain } = await import('../src/cli/main.ts');
process.exitCode = await runMain(process.argv.slice(2));
