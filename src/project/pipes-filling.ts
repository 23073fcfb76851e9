import type { Pipe, Project } from './model.ts';

/** Per data source, the materialized and copy pipes that write into it (none: events fill it). */
export function pipesFilling(project: Pick<Project, 'pipes'>): Map<string, Pipe[]> {
  const writers = new Map<string, Pipe[]>();
  for (const p of project.pipes.values()) {
    const to = p.materialize?.to ?? p.copy?.to;
    if (!to) continue;
    const list = writers.get(to) ?? [];
    list.push(p);
    writers.set(to, list);
  }
  return writers;
}
