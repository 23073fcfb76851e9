import type { Problem } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import type { TestFile } from './test-file.ts';

/**
 * The rules that need the project: each case's endpoint exists, its params are ones the
 * endpoint's pipe declares, and its token is one of tally.yaml's (or `none`).
 */
export function checkTestFiles(project: Project, files: readonly TestFile[], problems: Problem[]): void {
  const error = (location: Problem['location'], code: string, message: string, hint?: string) =>
    problems.push({
      severity: 'error',
      code,
      message,
      ...(location ? { location } : {}),
      ...(hint ? { hint } : {}),
    });
  const endpoints = [...project.endpoints.keys()];
  const tokens = project.config.tokens.map((t) => t.name);
  for (const file of files) {
    for (const c of file.cases) {
      const endpoint = project.endpoints.get(c.endpoint);
      if (!endpoint) {
        if (c.endpointWritten) {
          error(
            c.endpointLoc,
            'unknown-endpoint',
            `no endpoint named \`${c.endpoint}\`${didYouMean(c.endpoint, endpoints)}`,
          );
        } else {
          error(
            c.loc,
            'missing-endpoint',
            `case \`${c.name}\` names no endpoint, and none is named \`${c.endpoint}\` after the file`,
            'add `endpoint: <name>` to the case',
          );
        }
        continue;
      }
      const pipe = project.pipes.get(endpoint.pipe);
      const declared = pipe ? [...pipe.params.keys()] : [];
      for (const p of Object.keys(c.params)) {
        if (!declared.includes(p)) {
          error(
            c.paramLocs[p],
            'unknown-param',
            `endpoint \`${c.endpoint}\` has no param \`${p}\`${didYouMean(p, declared)}`,
            declared.length > 0 ? `its params: ${declared.join(', ')}` : 'it takes no params',
          );
        }
      }
      if (c.token !== undefined && c.token !== 'none' && !tokens.includes(c.token)) {
        error(
          c.tokenLoc,
          'unknown-token',
          `no token named \`${c.token}\` in tally.yaml${didYouMean(c.token, tokens)}`,
          'name a token of tally.yaml, or `none` to send no token',
        );
      }
    }
  }
}
