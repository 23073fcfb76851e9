import { describe, expect, it } from 'vitest';
import { FetchBudget } from '../../../src/ingest/fetch-budget.ts';

const MiB = 1024 * 1024;
const configured = { maxBytes: 4 * MiB, maxBytesPerPartition: 2 * MiB };

describe('FetchBudget', () => {
  it('keeps the configured sizes for plain batches, full or not', () => {
    const b = new FetchBudget(configured);
    // A full plain batch decodes to a little less than it weighed on the wire.
    for (let i = 0; i < 20; i++) b.observe(1.9 * MiB);
    b.observe(10_000);
    expect(b).toMatchObject({ maxBytes: 4 * MiB, maxBytesPerPartition: 2 * MiB, compression: 1 });
  });

  it('shrinks the sizes asked for by the compression of full batches, so a fetch decodes to about the configured size', () => {
    const b = new FetchBudget(configured);
    // lz4 at 5x: each full batch decodes to 5x what was asked for at the time.
    for (let i = 0; i < 12; i++) b.observe(b.maxBytesPerPartition * 5);
    expect(b.compression).toBeCloseTo(5, 1);
    expect(b.maxBytesPerPartition * b.compression).toBeCloseTo(2 * MiB, -4);
    expect(b.maxBytes).toBe(Math.floor((4 * MiB) / b.compression));
  });

  it('moves halfway per batch: one odd batch does not swing the sizes by its own factor', () => {
    const b = new FetchBudget(configured);
    b.observe(2 * MiB * 9);
    expect(b.compression).toBe(5);
    // Small batches (a partition's end) say nothing about compression.
    b.observe(100_000);
    expect(b.compression).toBe(5);
  });

  it('grows back to the configured sizes when the batches stop being compressed', () => {
    const b = new FetchBudget(configured);
    for (let i = 0; i < 10; i++) b.observe(b.maxBytesPerPartition * 6);
    expect(b.maxBytesPerPartition).toBeLessThan(MiB / 2);
    for (let i = 0; i < 30; i++) b.observe(b.maxBytesPerPartition * 0.95);
    expect(b.compression).toBeCloseTo(1, 3);
    expect(b.maxBytesPerPartition).toBeGreaterThan(1.99 * MiB);
  });

  it('never asks for less than the floor, nor follows compression beyond 64x', () => {
    const b = new FetchBudget(configured, 64 * 1024);
    // One producer batch far larger than what is asked for: the broker sends it whole anyway.
    for (let i = 0; i < 40; i++) b.observe(b.maxBytesPerPartition * 500);
    expect(b.compression).toBeLessThanOrEqual(64);
    expect(b.maxBytesPerPartition).toBe(64 * 1024);
    expect(b.maxBytes).toBe(64 * 1024);
  });
});
