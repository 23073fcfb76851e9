// On the embedded engine, in a file of its own: the CLI opens the temp project's .tally/chdb, and
// one process holds one chDB folder.
import { diffExactSuite } from './diff-exact-suite.ts';

diffExactSuite('embedded');
