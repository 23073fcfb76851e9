import { describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { WriteGate, writeGate } from '../../../src/clickhouse/write-gate.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('WriteGate', () => {
  it('exclusive waits for the writes in progress, and holds new ones until reopened', async () => {
    const gate = new WriteGate();
    const order: string[] = [];
    let finishFirst!: () => void;
    const first = gate.shared(
      () =>
        new Promise<void>((r) => {
          finishFirst = r;
        }),
    );
    let closed = false;
    const closing = gate.exclusive().then((reopen) => {
      closed = true;
      order.push('closed');
      return reopen;
    });
    await tick();
    expect(closed).toBe(false);
    const second = gate.shared(async () => {
      order.push('second write');
    });
    finishFirst();
    await first;
    const reopen = await closing;
    await tick();
    expect(order).toEqual(['closed']);
    expect(gate.state).toEqual({ writing: 0, held: true });
    reopen();
    await second;
    expect(order).toEqual(['closed', 'second write']);
    reopen(); // twice is harmless
    expect(gate.state.held).toBe(false);
  });

  it('a failing write still lets the gate close', async () => {
    const gate = new WriteGate();
    await expect(gate.shared(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const reopen = await gate.exclusive();
    reopen();
  });

  it('two exclusive requests take turns', async () => {
    const gate = new WriteGate();
    const a = await gate.exclusive();
    let bHeld = false;
    const b = gate.exclusive().then((r) => {
      bHeld = true;
      return r;
    });
    await tick();
    expect(bHeld).toBe(false);
    a();
    (await b)();
    expect(gate.state.held).toBe(false);
  });

  it('is one gate per embedded folder and database, whatever the Engine object', () => {
    const e = (database: string) => ({ backend: 'embedded', dataPath: '/x', database }) as Engine;
    expect(writeGate(e('a'))).toBe(writeGate(e('a')));
    expect(writeGate(e('a'))).not.toBe(writeGate(e('b')));
  });
});
