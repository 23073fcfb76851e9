/**
 * True once `p` settles (fulfilled or rejected), false if `ms` pass first. The timer is cleared
 * as soon as either wins: a pending timer would keep the caller's scope (for an ingester, a
 * fetch's rows) in memory until it fired.
 */
export function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  const settled = p.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, elapsed]).finally(() => clearTimeout(timer));
}
