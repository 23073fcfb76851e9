import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { checkTestFiles } from './check-test-files.ts';
import { findTestFiles } from './find-test-files.ts';
import { readTestFile, type TestFile } from './test-file.ts';

/** Every `*.test.yaml` of the project, read and checked against it (`tally test` and `tally check`). */
export function readProjectTests(project: Project, problems: Problem[]): TestFile[] {
  const files: TestFile[] = [];
  for (const rel of findTestFiles(project.root)) {
    const f = readTestFile(rel, readFileSync(join(project.root, rel), 'utf8'), problems);
    if (f) files.push(f);
  }
  checkTestFiles(project, files, problems);
  return files;
}
