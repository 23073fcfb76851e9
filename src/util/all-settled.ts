/**
 * Promise.all that waits for every promise to settle before it throws the first failure: work
 * started together (statements sent side by side) never still runs after its caller failed.
 */
export async function allSettledOrThrow<T extends readonly unknown[]>(
  all: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(all);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}
