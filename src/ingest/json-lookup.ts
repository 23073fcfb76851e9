import { ExactNumber, type JsonValue } from '../util/exact-json.ts';
import { describe, Refusal } from './coerce-value.ts';

/** Follows a path; undefined when a key or index is absent (or null on the way). */
export function lookup(
  event: JsonValue,
  path: readonly (string | number)[],
): JsonValue | undefined | Refusal {
  let v: JsonValue = event;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (v === null) return undefined;
    if (typeof seg === 'number') {
      if (!Array.isArray(v)) return notA('an array', v, path, i);
      if (seg >= v.length) return undefined;
      v = v[seg]!;
    } else {
      if (typeof v !== 'object' || Array.isArray(v) || v instanceof ExactNumber) {
        return notA('an object', v, path, i);
      }
      const o = v as { [key: string]: JsonValue };
      if (!Object.hasOwn(o, seg)) return undefined;
      v = o[seg]!;
    }
  }
  return v;
}

function notA(what: string, v: JsonValue, path: readonly (string | number)[], i: number): Refusal {
  const at = path
    .slice(0, i)
    .reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : `${s}.${p}`), '$');
  return new Refusal(`expected ${what} at ${at}, got ${describe(v)}`);
}
