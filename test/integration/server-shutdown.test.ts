import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { createApp } from '../../src/server/create-app.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { startServer } from '../../src/server/start-server.ts';
import { forEachBackend } from '../support/backends.ts';
import { SLOW_ENDPOINT_FILES } from '../support/slow-endpoint-project.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const FILES = SLOW_ENDPOINT_FILES;

afterAll(removeProjects);

/** A GET over a fresh connection; resolves with the status and body, rejects on a refused connection. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

forEachBackend('graceful shutdown', (ctx) => {
  let app: ReturnType<typeof createApp>;
  /** When the server finished answering each path (its request log line is written then). */
  const answeredAt = new Map<string, number>();

  beforeAll(async () => {
    const project = loadProjectOrThrow(writeProject(FILES), { env: {} });
    expect((await applyDeploy(project, ctx.engine)).ok).toBe(true);
    await ctx.engine.insert('ticks', [{ id: 1 }, { id: 2 }]);
    app = createApp({
      state: new StateHolder({ project, engine: ctx.engine, version: 'v1' }),
      tokens: [],
      log: (e) => {
        if (e.msg === 'request') answeredAt.set(String(e.path), performance.now());
      },
    });
  });

  it('finishes a request in flight while close() stops accepting new ones', async () => {
    const server = await startServer(app, '127.0.0.1', 0);
    const t0 = performance.now();
    const inflight = get(`${server.url}/v0/pipes/slow.json`);
    await new Promise((r) => setTimeout(r, 200));
    const closed = server.close(10_000).then(() => performance.now() - t0);

    // New connections are refused as soon as close() is called.
    await expect(get(`${server.url}/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    const res = await inflight;
    const answeredMs = performance.now() - t0;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ data: [{ slept: 0, n: 2 }], rows: 1 });
    expect(answeredMs).toBeGreaterThanOrEqual(700);
    // close() resolves only after the request in flight was answered: measured on the server's
    // side (the client's own clock reads the answer a few ms later under load, in either order).
    const serverAnsweredMs = answeredAt.get('/v0/pipes/slow.json')! - t0;
    expect(serverAnsweredMs).toBeGreaterThanOrEqual(700);
    expect(await closed).toBeGreaterThanOrEqual(serverAnsweredMs);
  });

  it('cuts connections that outlive the grace period', async () => {
    const server = await startServer(app, '127.0.0.1', 0);
    const inflight = get(`${server.url}/v0/pipes/slow.json`).then(
      (r) => r.status,
      (err: NodeJS.ErrnoException) => err.code,
    );
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    await server.close(100);
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(await inflight).toBe('ECONNRESET');
  });
});
