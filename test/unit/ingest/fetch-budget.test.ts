import { describe, expect, it } from 'vitest';
import { FetchBudget } from '../../../src/ingest/fetch-budget.ts';

const MiB = 1024 * 1024;
const configured = { maxBytes: 4 * MiB, maxBytesPerPartition: 2 * MiB };

/**
 * One fetch as kafkajs makes it: it reads the per-partition size for each partition as it builds
 * the request, then each partition's batch comes back, decoding to `decoded(asked)` bytes.
 */
function fetch(
  b: FetchBudget,
  partitions: number,
  decoded: (asked: number) => number,
  cut = true,
  recordBatches: (asked: number) => number = () => 10,
): void {
  let asked = 0;
  for (let p = 0; p < partitions; p++) asked = b.askPerPartition();
  for (let p = 0; p < partitions; p++) b.observe(decoded(asked), cut, recordBatches(asked));
}

describe('FetchBudget', () => {
  it('keeps the configured sizes for plain batches, full or not', () => {
    const b = new FetchBudget(configured);
    // A full plain batch decodes to a little less than it weighed on the wire.
    for (let i = 0; i < 20; i++) fetch(b, 2, (asked) => asked * 0.95);
    fetch(b, 2, () => 10_000, false);
    expect(b).toMatchObject({ maxBytes: 4 * MiB, maxBytesPerPartition: 2 * MiB, compression: 1 });
  });

  it('shrinks the sizes asked for by the compression of full batches, so a fetch decodes to about the configured size', () => {
    const b = new FetchBudget(configured);
    // lz4 at 5x: each full batch decodes to 5x what its fetch asked for.
    for (let i = 0; i < 12; i++) fetch(b, 4, (asked) => asked * 5);
    expect(b.compression).toBeCloseTo(5, 1);
    expect(b.maxBytesPerPartition * b.compression).toBeCloseTo(2 * MiB, -4);
    expect(b.maxBytes).toBe(Math.floor((4 * MiB) / b.compression));
  });

  it('measures every batch of a fetch against what that fetch asked for, not against sizes changed meanwhile', () => {
    const b = new FetchBudget(configured);
    // Two partitions at a true 4x in one fetch: the estimate moves toward 4, not past it.
    fetch(b, 2, (asked) => asked * 4);
    expect(b.compression).toBeLessThanOrEqual(4);
  });

  it('moves halfway per batch; batches that reached the partition end or came far short say nothing', () => {
    const b = new FetchBudget(configured);
    fetch(b, 1, () => 2 * MiB * 9);
    expect(b.compression).toBe(5);
    fetch(b, 1, () => 100_000);
    fetch(b, 1, (asked) => asked * 1.2, false);
    expect(b.compression).toBe(5);
  });

  it('grows back to the configured sizes when the batches stop being compressed', () => {
    const b = new FetchBudget(configured);
    for (let i = 0; i < 10; i++) fetch(b, 2, (asked) => asked * 6);
    expect(b.maxBytesPerPartition).toBeLessThan(MiB / 2);
    for (let i = 0; i < 30; i++) fetch(b, 2, (asked) => asked * 0.95);
    expect(b.compression).toBeCloseTo(1, 3);
    expect(b.maxBytesPerPartition).toBeGreaterThan(1.99 * MiB);
    // Plain small records (~40-byte values) decode to ~0.65 of their size on the wire: as plain.
    for (let i = 0; i < 10; i++) fetch(b, 2, (asked) => asked * 6);
    for (let i = 0; i < 30; i++) fetch(b, 2, (asked) => asked * 0.65);
    expect(b.compression).toBeCloseTo(1, 3);
  });

  it("does not read a producer's big record batches as ever more compression", () => {
    const b = new FetchBudget(configured);
    // lz4 at 4x from a producer writing 1 MiB batches (4 MiB decoded): the broker sends at least
    // one whole batch per partition, whatever is asked.
    const batches = (asked: number) => Math.max(1, Math.floor(asked / MiB));
    for (let i = 0; i < 30; i++) fetch(b, 4, (asked) => batches(asked) * 4 * MiB, true, batches);
    expect(b.compression).toBeLessThan(5);
  });

  it('never asks for less than the floor (1/32 of the configured size, 64 KiB at most), nor follows compression past 64x', () => {
    const small = new FetchBudget({ maxBytes: 256 * 1024, maxBytesPerPartition: 128 * 1024 });
    for (let i = 0; i < 40; i++) fetch(small, 1, (asked) => asked * 100);
    expect(small.compression).toBeLessThanOrEqual(64);
    expect(small.maxBytesPerPartition).toBe(4 * 1024);
    const big = new FetchBudget({ maxBytes: 64 * MiB, maxBytesPerPartition: 32 * MiB });
    for (let i = 0; i < 40; i++) fetch(big, 1, (asked) => asked * 100);
    expect(big.maxBytesPerPartition).toBe(512 * 1024);
  });
});
