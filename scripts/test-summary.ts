/**
 * Reads vitest's JSON report and prints what CI needs to see: how many tests ran on each
 * ClickHouse back end, and one plain closing line `N passed, N failed`.
 */
import { readFileSync } from 'node:fs';

interface Assertion {
  fullName: string;
  status: 'passed' | 'failed' | 'skipped' | 'pending' | 'todo';
}
interface Report {
  testResults: Array<{ assertionResults: Assertion[] }>;
}

const file = process.argv[2] ?? '.tally/test-results.json';
const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
const all = report.testResults.flatMap((r) => r.assertionResults);
const count = (pred: (a: Assertion) => boolean) => all.filter(pred).length;
for (const backend of ['embedded', 'server']) {
  const tag = `[${backend}]`;
  const n = count((a) => a.fullName.includes(tag) && a.status === 'passed');
  console.log(`ClickHouse back end ${backend}: ${n} integration tests passed`);
}
const passed = count((a) => a.status === 'passed');
const failed = count((a) => a.status === 'failed');
const skipped = count((a) => a.status === 'skipped' || a.status === 'pending' || a.status === 'todo');
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
