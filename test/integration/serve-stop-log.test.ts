import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.ts';
import { SLOW_ENDPOINT_FILES } from '../support/slow-endpoint-project.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');

const FILES = SLOW_ENDPOINT_FILES;

afterAll(removeProjects);

/** The environment of a child on the embedded engine (no ClickHouse URL, no Kafka data source). */
function embeddedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TALLY_')) delete env[k];
  return env;
}

async function until(what: string, ok: () => boolean, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function start(command: 'serve' | 'dev', port: number): { child: ChildProcess; out: () => string } {
  const args = [
    join(REPO, 'bin', 'tally.js'),
    command,
    '--project',
    writeProject(FILES),
    '--port',
    String(port),
  ];
  if (command === 'serve') args.push('--deploy');
  const child = spawn(process.execPath, args, { env: embeddedEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (out += String(d)));
  return { child, out: () => out };
}

describe('stopping on SIGTERM, on the embedded engine', () => {
  it('tally serve logs that it is stopping, answers the request in flight, then logs that it stopped', async () => {
    const port = await freePort();
    const { child, out } = start('serve', port);
    await until('serving', () => out().includes('"msg":"serving"'));
    const inflight = fetch(`http://127.0.0.1:${port}/v0/pipes/slow.json`);
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(await new Promise((r) => child.once('exit', r))).toBe(0);

    const lines = out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const at = (msg: string) => lines.findIndex((l) => l.msg === msg);
    const stopping = lines[at('stopping: finishing requests in flight and the batch in flight')];
    expect(stopping).toMatchObject({ level: 'info', signal: 'SIGTERM' });
    const stopped = lines[at('stopped')];
    expect(stopped).toMatchObject({ level: 'info', ms: expect.any(Number) });
    // In order: the stop began while the request was in flight, which was answered before the end.
    const request = lines.findIndex((l) => l.msg === 'request' && l.path === '/v0/pipes/slow.json');
    expect(at('serving')).toBeLessThan(at('stopping: finishing requests in flight and the batch in flight'));
    expect(at('stopping: finishing requests in flight and the batch in flight')).toBeLessThan(request);
    expect(request).toBeLessThan(at('stopped'));
    expect(at('stopped')).toBe(lines.length - 1);
  });

  it('tally dev says `stopping: ...` and then `stopped`', async () => {
    const { child, out } = start('dev', await freePort());
    await until('watching', () => out().includes('watching '));
    child.kill('SIGTERM');
    expect(await new Promise((r) => child.once('exit', r))).toBe(0);
    expect(out()).toMatch(/stopping: finishing requests in flight\n(?:.*\n)*stopped\n$/);
  });
});
