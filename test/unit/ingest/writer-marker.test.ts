import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { claimWriterMarker, writerMarkerPath } from '../../../src/ingest/writer-marker.ts';

const dirs: string[] = [];
function embedded(database = 'db'): Engine {
  const dataPath = mkdtempSync(join(tmpdir(), 'tally-marker-'));
  dirs.push(dataPath);
  return { backend: 'embedded', dataPath, database } as Engine;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('writer marker', () => {
  it('is not taken on a server back end', () => {
    expect(claimWriterMarker({ backend: 'server', database: 'db' } as Engine)).toBeUndefined();
  });

  it('a first start is clean; a clean stop removes the marker', () => {
    const engine = embedded();
    const claim = claimWriterMarker(engine)!;
    expect(claim.unclean).toBe(false);
    expect(existsSync(claim.path)).toBe(true);
    claim.release();
    expect(existsSync(claim.path)).toBe(false);
    expect(claimWriterMarker(engine)!.unclean).toBe(false);
  });

  it('a marker left by a process that is gone means a crash, even when cut short', () => {
    const engine = embedded();
    const dead = Number(execFileSync('sh', ['-c', 'echo $$']).toString().trim());
    writeFileSync(writerMarkerPath(engine.dataPath!, 'db'), JSON.stringify({ pid: dead }));
    const claim = claimWriterMarker(engine)!;
    expect(claim.unclean).toBe(true);
    expect(claim.previous).toEqual({ pid: dead });
    claim.release();
    writeFileSync(writerMarkerPath(engine.dataPath!, 'db'), '{"pid": 12');
    expect(claimWriterMarker(engine)!.unclean).toBe(true);
  });

  it('a marker of a live other process is not a crash (never recompute under a writer)', () => {
    const engine = embedded();
    writeFileSync(writerMarkerPath(engine.dataPath!, 'db'), JSON.stringify({ pid: process.ppid }));
    expect(claimWriterMarker(engine)!.unclean).toBe(false);
  });

  it('a second ingestion of this process shares the claim; the marker goes with the last', () => {
    const engine = embedded();
    const a = claimWriterMarker(engine)!;
    const b = claimWriterMarker(engine)!;
    expect(b.unclean).toBe(false);
    a.release();
    expect(existsSync(a.path)).toBe(true);
    b.release();
    expect(existsSync(a.path)).toBe(false);
  });

  it('a failed recovery keeps the marker for the next start', () => {
    const engine = embedded();
    writeFileSync(writerMarkerPath(engine.dataPath!, 'db'), '{}');
    const claim = claimWriterMarker(engine)!;
    expect(claim.unclean).toBe(true);
    claim.release({ keep: true });
    expect(claimWriterMarker(engine)!.unclean).toBe(true);
  });
});
