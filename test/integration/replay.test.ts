// tally replay and tally diff on the ClickHouse 18.16 server (the embedded back end: replay-embedded.test.ts).
import { replaySuite } from './replay-suite.ts';

replaySuite('server');
