import { isMap, isScalar, isSeq, type Node, type Pair, type Scalar, type YAMLMap } from 'yaml';
import type { Problem, SourceLocation } from '../errors.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import type { YamlFile } from './yaml-file.ts';

/**
 * Strict, located reading of YAML values. Every getter reports what is wrong into `problems` and
 * returns `undefined`, so a loader can collect all problems of a file in one pass.
 */
export class YamlReader {
  constructor(
    readonly file: YamlFile,
    readonly problems: Problem[],
  ) {}

  loc(node: Node | null | undefined): SourceLocation {
    return this.file.loc(node);
  }

  error(node: Node | null | undefined, code: string, message: string, hint?: string): void {
    this.problems.push({
      severity: 'error',
      code,
      message,
      location: this.loc(node),
      ...(hint ? { hint } : {}),
    });
  }

  warn(node: Node | null | undefined, code: string, message: string, hint?: string): void {
    this.problems.push({
      severity: 'warning',
      code,
      message,
      location: this.loc(node),
      ...(hint ? { hint } : {}),
    });
  }

  /**
   * Reads a mapping with a fixed set of keys; unknown keys are reported with a "did you mean".
   * `what` names the thing in messages ("data source", "column").
   */
  map(node: Node | null | undefined, what: string, allowed: readonly string[]): MapView | undefined {
    if (!node || !isMap(node)) {
      const empty = !node || (isScalar(node) && (node.value === null || node.value === ''));
      const shape = 'must be a mapping (key: value)';
      this.error(node, 'expected-mapping', empty ? `${what} is empty; it ${shape}` : `${what} ${shape}`);
      return undefined;
    }
    const view = new MapView(this, node as YAMLMap<Scalar, Node>, what);
    for (const pair of view.pairs) {
      const key = keyName(pair);
      if (key === undefined) {
        this.error(pair.key as Node, 'bad-key', `${what}: keys must be plain strings`);
      } else if (!allowed.includes(key)) {
        this.error(
          pair.key as Node,
          'unknown-key',
          `unknown key \`${key}\` in ${what}${didYouMean(key, allowed)}`,
          `allowed keys: ${allowed.join(', ')}`,
        );
      }
    }
    return view;
  }

  /** A mapping whose keys are user-chosen names (params, tokens); values are returned as nodes. */
  namedMap(
    node: Node | null | undefined,
    what: string,
  ): Array<{ name: string; keyNode: Node; value: Node | null }> {
    if (!node || !isMap(node)) {
      this.error(node, 'expected-mapping', `${what} must be a mapping of names to settings`);
      return [];
    }
    const out: Array<{ name: string; keyNode: Node; value: Node | null }> = [];
    for (const pair of (node as YAMLMap<Scalar, Node>).items) {
      const name = keyName(pair);
      if (name === undefined) this.error(pair.key as Node, 'bad-key', `${what}: names must be plain strings`);
      else out.push({ name, keyNode: pair.key as Node, value: (pair.value as Node | null) ?? null });
    }
    return out;
  }

  list(node: Node | null | undefined, what: string): Node[] | undefined {
    if (!node || !isSeq(node)) {
      this.error(node, 'expected-list', `${what} must be a list`);
      return undefined;
    }
    return node.items as Node[];
  }

  string(node: Node | null | undefined, what: string): string | undefined {
    if (node && isScalar(node) && typeof node.value === 'string') return node.value;
    if (node && isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean')) {
      return String(node.value);
    }
    this.error(node, 'expected-string', `${what} must be a string`);
    return undefined;
  }

  number(
    node: Node | null | undefined,
    what: string,
    opts: { integer?: boolean; min?: number; max?: number } = {},
  ): number | undefined {
    const v = node && isScalar(node) ? node.value : undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
    if (
      !Number.isFinite(n) ||
      (opts.integer && !Number.isInteger(n)) ||
      (opts.min !== undefined && n < opts.min) ||
      (opts.max !== undefined && n > opts.max)
    ) {
      const kind = opts.integer ? 'an integer' : 'a number';
      this.error(node, 'expected-number', `${what} must be ${kind}${rangeText(opts.min, opts.max)}`);
      return undefined;
    }
    return n;
  }

  boolean(node: Node | null | undefined, what: string): boolean | undefined {
    if (node && isScalar(node) && typeof node.value === 'boolean') return node.value;
    this.error(node, 'expected-boolean', `${what} must be true or false`);
    return undefined;
  }

  /** A string, or a list of strings (`sorting_key: a` or `sorting_key: [a, b]`). */
  stringList(node: Node | null | undefined, what: string): string[] | undefined {
    if (node && isSeq(node)) {
      const out: string[] = [];
      for (const item of node.items as Node[]) {
        const s = this.string(item, `each item of ${what}`);
        if (s !== undefined) out.push(s);
      }
      return out;
    }
    const s = this.string(node, `${what} (a string or a list of strings)`);
    return s === undefined ? undefined : [s];
  }

  /** A duration such as `2s`, `500ms`, `5m`, `1h`, `1d`, or a number of seconds; returns ms. */
  duration(node: Node | null | undefined, what: string): number | undefined {
    const v = node && isScalar(node) ? node.value : undefined;
    const ms = parseDuration(v);
    if (ms === undefined)
      this.error(node, 'expected-duration', `${what} must be a duration such as 500ms, 2s, 5m, 1h or 1d`);
    return ms;
  }

  /** The plain JS value of a scalar or a flow collection (for defaults and enums). */
  plain(node: Node | null | undefined): unknown {
    if (!node) return null;
    return (node as { toJSON?: () => unknown }).toJSON?.() ?? null;
  }
}

/** One mapping, with located access to its values. */
export class MapView {
  readonly pairs: Pair<Scalar, Node>[];
  constructor(
    private readonly reader: YamlReader,
    readonly node: YAMLMap<Scalar, Node>,
    readonly what: string,
  ) {
    this.pairs = node.items as Pair<Scalar, Node>[];
  }

  has(key: string): boolean {
    return this.pairs.some((p) => keyName(p) === key);
  }

  /** The value node of `key` (null for `key:` with no value), or undefined when absent. */
  get(key: string): Node | null | undefined {
    const pair = this.pairs.find((p) => keyName(p) === key);
    if (!pair) return undefined;
    return (pair.value as Node | null) ?? null;
  }

  keyNode(key: string): Node | undefined {
    return this.pairs.find((p) => keyName(p) === key)?.key as Node | undefined;
  }

  /** Reports a missing required key at the mapping's own location. */
  /** The value of `key`, or a missing-key problem naming `what` (default: the mapping's own). */
  require(key: string, what = this.what): Node | null | undefined {
    if (!this.has(key)) {
      this.reader.error(this.node, 'missing-key', `${what} needs \`${key}\``);
      return undefined;
    }
    return this.get(key);
  }
}

function keyName(pair: Pair<unknown, unknown>): string | undefined {
  const k = pair.key;
  if (isScalar(k) && (typeof k.value === 'string' || typeof k.value === 'number')) return String(k.value);
  return undefined;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `2s` -> 2000; a bare number is seconds. Undefined when it does not parse. */
export function parseDuration(v: unknown): number | undefined {
  let ms: number;
  if (typeof v === 'number') ms = v >= 0 ? v * 1000 : Number.NaN;
  else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v);
    ms = m ? Number(m[1]) * DURATION_UNITS[m[2] ?? 's']! : Number.NaN;
  } else return undefined;
  // 1e308 seconds is no duration: it would show as "Infinitys" and compare as never.
  return Number.isFinite(ms) ? ms : undefined;
}

/** ` from 1 to 9`, ` >= 1`, ` <= 9` or nothing, for a number's bounds in a message. */
function rangeText(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` >= ${min}`;
  return max !== undefined ? ` <= ${max}` : '';
}
