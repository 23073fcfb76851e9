// The server binds loopback unless told otherwise: the default config, the example project, and
// an actual listening socket.
import { join } from 'node:path';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { startServer } from '../../../src/server/start-server.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('bind address', () => {
  it('defaults to 127.0.0.1 (example project, and a project without tally.yaml)', () => {
    expect(loadProjectOrThrow(ROOT, { env: {} }).config.server.host).toBe('127.0.0.1');
    const dir = writeProject({ 'pipes/p.pipe.yaml': 'nodes:\n  - name: n\n    sql: SELECT 1 AS x\n' });
    expect(loadProjectOrThrow(dir, { env: {} }).config.server.host).toBe('127.0.0.1');
    removeProjects();
  });

  it('only TALLY_HOST or server.host change it', () => {
    expect(loadProjectOrThrow(ROOT, { env: { TALLY_HOST: '0.0.0.0' } }).config.server.host).toBe('0.0.0.0');
  });

  it('a started server listens on the loopback address only', async () => {
    const server = await startServer(new Hono(), '127.0.0.1', 0);
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await server.close(100);
    }
  });
});
