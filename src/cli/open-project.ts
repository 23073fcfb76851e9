import { TallyError } from '../errors.ts';
import { loadProject, notAProjectProblem } from '../project/load-project.ts';
import type { Project } from '../project/model.ts';
import { plural } from '../util/plural.ts';
import type { CommandContext } from './command.ts';
import { printProblems } from './output.ts';

/** Loads and validates the project; prints every problem; throws when any is an error. */
export function openProject(ctx: CommandContext, opts: { quietWarnings?: boolean } = {}): Project {
  // The wrong folder would otherwise be an empty project: deploy would plan to drop every data
  // source, and the embedded engine would open a data folder there.
  refuseNonProject(ctx.projectDir);
  const { project, problems } = loadProject(ctx.projectDir, { env: ctx.env });
  const shown = opts.quietWarnings ? problems.filter((p) => p.severity === 'error') : problems;
  printProblems(ctx.io, shown);
  const errors = problems.filter((p) => p.severity === 'error');
  if (!project || errors.length > 0) {
    throw new TallyError(
      'invalid-project',
      `${plural(errors.length, 'problem')} in ${ctx.projectDir}; fix ${errors.length === 1 ? 'it' : 'them'} and run again`,
      { details: { problems: errors } },
    );
  }
  return project;
}

/** Throws `project-not-found` for a folder that is missing or holds no project (a mistyped --project). */
export function refuseNonProject(dir: string): void {
  const notAProject = notAProjectProblem(dir, 'not a Tally project');
  if (notAProject) {
    throw new TallyError(notAProject.code, notAProject.message, {
      ...(notAProject.hint ? { hint: notAProject.hint } : {}),
    });
  }
}
