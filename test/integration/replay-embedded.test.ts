// tally replay and tally diff on the embedded engine (chDB), in a file of its own: the CLI opens the
// temp project's .tally/chdb, and one process holds one chDB folder.
import { replaySuite } from './replay-suite.ts';

replaySuite('embedded');
