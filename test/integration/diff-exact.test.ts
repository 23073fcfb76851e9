import { diffExactSuite } from './diff-exact-suite.ts';

diffExactSuite('server');
