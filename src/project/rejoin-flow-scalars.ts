import { isMap, isPair, isScalar, isSeq, type Node, type Pair, Scalar } from 'yaml';

/**
 * In YAML flow style (`{ ... }`, `[ ... ]`) a comma always separates items, so
 * `{ name: amount, type: Decimal(18, 2) }` reads as `type: "Decimal(18"` plus a stray key `2)`.
 * Types and key expressions are full of such commas, and the design's own examples are written
 * this way, so plain scalars with unbalanced parentheses are joined back with the items that
 * follow until the parentheses balance, using the exact source text. Mutates the tree in place.
 */
export function rejoinFlowScalars(root: Node | null, text: string): void {
  if (root) visit(root, text);
}

function visit(node: Node, text: string): void {
  if (isMap(node)) {
    const items = node.items as Pair<Node, Node | null>[];
    if (node.flow) joinPairs(items, text);
    for (const p of items) {
      if (p.value && typeof p.value === 'object') visit(p.value, text);
    }
  } else if (isSeq(node)) {
    const items = node.items as unknown[];
    if (node.flow) joinItems(items, text);
    for (const item of items) {
      if (isPair(item) && item.value) visit(item.value as Node, text);
      else if (item && typeof item === 'object') visit(item as Node, text);
    }
  }
}

/** `key: Decimal(18` followed by keys `2)` without values becomes `key: Decimal(18, 2)`. */
function joinPairs(items: Pair<Node, Node | null>[], text: string): void {
  for (let i = 0; i < items.length; i++) {
    const value = items[i]!.value;
    if (!isOpenPlain(value)) continue;
    let depth = parenDepth(value.source ?? String(value.value));
    let j = i + 1;
    let last: Scalar | undefined;
    while (depth > 0 && j < items.length) {
      const next = items[j]!;
      if (next.value !== null || !isPlain(next.key)) break;
      depth += parenDepth(next.key.source ?? String(next.key.value));
      last = next.key;
      j++;
    }
    if (last && depth === 0) {
      items[i]!.value = joined(value, last, text);
      items.splice(i + 1, j - i - 1);
    }
  }
}

/** `[toDate(a, b), c]` read as `toDate(a`, `b)`, `c` becomes `toDate(a, b)`, `c`. */
function joinItems(items: unknown[], text: string): void {
  for (let i = 0; i < items.length; i++) {
    const first = items[i];
    if (!isOpenPlain(first)) continue;
    let depth = parenDepth(first.source ?? String(first.value));
    let j = i + 1;
    let last: Scalar | undefined;
    while (depth > 0 && j < items.length) {
      const next = items[j];
      if (!isPlain(next)) break;
      depth += parenDepth(next.source ?? String(next.value));
      last = next;
      j++;
    }
    if (last && depth === 0) {
      items[i] = joined(first, last, text);
      items.splice(i + 1, j - i - 1);
    }
  }
}

function joined(first: Scalar, last: Scalar, text: string): Scalar {
  const start = first.range![0];
  const end = last.range![1];
  const s = new Scalar(text.slice(start, end));
  s.type = Scalar.PLAIN;
  s.source = s.value as string;
  s.range = [start, end, last.range![2]];
  return s;
}

function isPlain(n: unknown): n is Scalar & { range: [number, number, number] } {
  return isScalar(n) && n.type === Scalar.PLAIN && n.range !== undefined && n.range !== null;
}

function isOpenPlain(n: unknown): n is Scalar & { range: [number, number, number] } {
  return isPlain(n) && typeof n.value === 'string' && parenDepth(n.source ?? n.value) > 0;
}

function parenDepth(s: string): number {
  let d = 0;
  for (const c of s) {
    if (c === '(') d++;
    else if (c === ')') d--;
  }
  return d;
}
