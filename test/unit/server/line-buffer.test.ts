import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { lineBuffer } from '../../../src/server/line-buffer.ts';

describe('lineBuffer', () => {
  it('writes the lines of one turn of the event loop in one write, in order', async () => {
    const chunks: string[] = [];
    const lines = lineBuffer((c) => chunks.push(c));
    lines.write('{"a":1}');
    lines.write('{"a":2}');
    lines.write('{"a":3}');
    expect(chunks).toEqual([]);
    await turn();
    expect(chunks).toEqual(['{"a":1}\n{"a":2}\n{"a":3}\n']);
    lines.write('{"a":4}');
    await turn();
    expect(chunks).toEqual(['{"a":1}\n{"a":2}\n{"a":3}\n', '{"a":4}\n']);
    lines.close();
  });

  it('writes at once when maxBytes are waiting, and never an empty chunk', async () => {
    const chunks: string[] = [];
    const lines = lineBuffer((c) => chunks.push(c), 10);
    lines.write('12345');
    expect(chunks).toEqual([]);
    lines.write('67890');
    expect(chunks).toEqual(['12345\n67890\n']);
    await turn();
    lines.flush();
    expect(chunks).toHaveLength(1);
    lines.close();
  });

  it('flushes on close and on process exit until closed', () => {
    const chunks: string[] = [];
    const before = process.listenerCount('exit');
    const lines = lineBuffer((c) => chunks.push(c));
    expect(process.listenerCount('exit')).toBe(before + 1);
    lines.write('last words');
    // The listener it added, called as the process's exit would (without exiting the runner).
    const onExit = process.listeners('exit').at(-1) as () => void;
    onExit();
    expect(chunks).toEqual(['last words\n']);
    lines.write('closing');
    lines.close();
    expect(chunks).toEqual(['last words\n', 'closing\n']);
    expect(process.listenerCount('exit')).toBe(before);
  });
});
