/** `1 row`, `2 rows`, `0 rows`: a count with its noun (a regular plural). */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
