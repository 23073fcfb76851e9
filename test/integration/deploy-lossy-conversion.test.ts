/**
 * A column type change that CAST does not refuse but that changes stored values (70000 as UInt16
 * is 4464) is destructive: refused without allowDestructive, naming the column, how many rows
 * and an example; a widening is not.
 */
import { afterAll, expect, it } from 'vitest';
import { applyDeploy, planDeploy } from '../../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const withPoints = (type: string) => ({
  'tally.yaml': 'name: lossy-test\n',
  'datasources/tx.datasource.yaml': `columns:\n  - { name: id, type: String }\n  - { name: points, type: ${type} }\nengine: { sorting_key: [id] }\n`,
});
const project = (type: string) => loadProjectOrThrow(writeProject(withPoints(type)), { env: {} });

forEachBackend('a narrowing column type change', (ctx) => {
  it('is planned as destructive, refused without allowDestructive, and keeps the values until allowed', async () => {
    expect((await applyDeploy(project('UInt32'), ctx.engine)).error).toBeUndefined();
    await ctx.engine.insert('tx', [
      { id: 'a', points: 70000 },
      { id: 'b', points: 12 },
      { id: 'c', points: 70001 },
    ]);

    // Widening first: nothing changes value, nothing destructive.
    const widen = await planDeploy(project('UInt64'), ctx.engine);
    expect(widen.steps.length).toBeGreaterThan(0);
    expect(widen.steps.filter((s) => s.destructive)).toEqual([]);

    const narrow = await planDeploy(project('UInt16'), ctx.engine);
    const step = narrow.steps.find((s) => s.kind === 'rebuild-table')!;
    expect(step.destructive).toBe(true);
    expect(step.loses).toEqual([
      expect.stringMatching(
        /^column points of tx: 2 rows change value converting UInt32 -> UInt16 \(7000[01] becomes 446[45]\)$/,
      ),
    ]);
    const refused = await applyDeploy(project('UInt16'), ctx.engine);
    expect(refused.ok).toBe(false);
    expect(refused.error).toContain('2 rows change value converting UInt32 -> UInt16');
    const kept = await ctx.engine.rows<{ points: number | string }>('SELECT points FROM tx ORDER BY id');
    expect(kept.map((r) => Number(r.points))).toEqual([70000, 12, 70001]);

    expect(
      (await applyDeploy(project('UInt16'), ctx.engine, { allowDestructive: true })).error,
    ).toBeUndefined();
    const wrapped = await ctx.engine.rows<{ points: number | string }>('SELECT points FROM tx ORDER BY id');
    expect(wrapped.map((r) => Number(r.points))).toEqual([4464, 12, 4465]);
  });
});
