import { describe, expect, it } from 'vitest';
import { errorsOnly } from '../../../src/cli/errors-only-log.ts';
import { createLogger } from '../../../src/server/logger.ts';
import { captureOutput } from '../../support/capture-output.ts';

describe('errorsOnly: what tally dev prints of the server log', () => {
  it("prints an error entry with its request and cause (an internal error's stack), and nothing else", () => {
    const io = captureOutput();
    const logger = createLogger({ sink: errorsOnly(io) }).child({ id: 'r-7' });
    logger.info('request', { status: 200 });
    logger.warn('request', { status: 404 });
    const boom = new Error('boom');
    logger.error('internal error', { error: boom });
    expect(io.stdout()).toBe('');
    const lines = io.stderr().split('\n');
    expect(lines[0]).toBe('error: internal error (request r-7): Error: boom');
    expect(lines[1]).toMatch(/^\s+at /); // the stack follows
  });

  it('says which request was answered with a 5xx, and why', () => {
    const io = captureOutput();
    const sink = errorsOnly(io);
    sink({
      level: 'error',
      msg: 'request',
      id: 'r-8',
      method: 'POST',
      path: '/v0/events',
      status: 503,
      error: 'ingestion is starting; retry in a moment',
    });
    expect(io.stderr()).toBe(
      'error: POST /v0/events answered 503 (request r-8): ingestion is starting; retry in a moment',
    );
  });
});
