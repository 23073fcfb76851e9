import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import { afterAll, expect, it } from 'vitest';
import { startServer } from '../../../src/server/start-server.ts';

// A direct handler answers what it takes; one that throws before writing leaves the request to
// hono, which answers it as if the direct path were not there.
const app = Object.assign(
  new Hono().get('/:name', (c) => c.text(`hono ${c.req.param('name')}`)),
  {
    direct: (req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/boom') throw new Error('a bug in the direct path');
      if (req.url !== '/direct') return false;
      res.end('direct');
      return true;
    },
  },
);
const server = await startServer(app, '127.0.0.1', 0);
afterAll(() => server.close(100));

it('serves what the direct handler takes, and the rest through hono', async () => {
  expect(await (await fetch(`${server.url}/direct`)).text()).toBe('direct');
  expect(await (await fetch(`${server.url}/other`)).text()).toBe('hono other');
});

it('a direct handler that throws leaves the request to hono instead of dropping it', async () => {
  const res = await fetch(`${server.url}/boom`);
  expect(res.status).toBe(200);
  expect(await res.text()).toBe('hono boom');
});
