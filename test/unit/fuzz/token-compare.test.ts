// Timing-safe token checks: every configured token is compared, with crypto.timingSafeEqual on
// fixed-length digests, whether the presented token matches the first, the last or none. (Code
// review of src/server/auth.ts: no early exit from the loop, no `===` on token text.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const calls: Array<{ a: number; b: number }> = [];

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls.push({ a: a.byteLength, b: b.byteLength });
      return real.timingSafeEqual(a, b);
    },
  };
});

const { TokenAuth } = await import('../../../src/server/auth.ts');

const TOKENS = Array.from({ length: 8 }, (_, i) => ({
  name: `t${i}`,
  value: `secret-${i}-${'x'.repeat(i * 7)}`,
  scope: 'read' as const,
}));

describe('token comparison', () => {
  const auth = new TokenAuth(TOKENS);
  beforeEach(() => {
    calls.length = 0;
  });

  it.each([
    ['the first token', TOKENS[0]?.value],
    ['the last token', TOKENS[7]?.value],
    ['no token (same length as one)', 'secret-0-'.replace('0', '9')],
    ['no token (much longer)', 'z'.repeat(10_000)],
    ['a prefix of a token', 'secret-7'],
  ])('%s: every token is compared, on equal-length digests', (_what, presented) => {
    try {
      auth.check(presented, { kind: 'endpoint', name: 'e' });
    } catch {
      // 401 for the wrong ones: what matters is how they were compared.
    }
    expect(calls.length).toBe(TOKENS.length);
    for (const c of calls) expect(c).toEqual({ a: 32, b: 32 });
  });

  it('the source compares tokens only through timingSafeEqual (no === on token values)', () => {
    const src = readFileSync(join(import.meta.dirname, '..', '..', '..', 'src', 'server', 'auth.ts'), 'utf8');
    expect(src).toMatch(/timingSafeEqual\(/);
    expect(src).not.toMatch(/\.value\s*===|===\s*[a-z.]*\.value|presented\s*===/);
    expect(src).not.toMatch(/\bbreak\b/);
  });
});
