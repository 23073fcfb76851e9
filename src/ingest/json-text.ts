/**
 * A JSON reader that keeps numbers exactly as written. `JSON.parse` turns every number into a
 * double, which silently loses digits of 64-bit integers and long decimals; Node 20 has no way to
 * see a number's source text. The row parser uses `JSON.parse` for speed and this reader only for
 * events where it cannot find a number's source text directly (see row-parser.ts).
 */

/** A JSON number with the exact text it was written as, e.g. `12345678901234567.89`. */
export class RawNumber {
  constructor(readonly text: string) {}
}

/** A value read from JSON: as `JSON.parse` gives it, or with `RawNumber` for numbers (exact reader). */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | RawNumber
  | JsonValue[]
  | { [key: string]: JsonValue };

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

/** Parses JSON text; numbers become `RawNumber`, objects have no prototype. Throws JsonSyntaxError. */
export function parseJsonExact(text: string): JsonValue {
  const r = new Reader(text);
  r.ws();
  const v = r.value(0);
  r.ws();
  if (r.i < text.length) r.fail('unexpected text after the JSON value');
  return v;
}

/** Text JSON writes without escapes (no quote, backslash, control character or surrogate). */
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** `JSON.stringify` of a string; half the time for the usual string that needs no escape. */
export function jsonString(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** Compact JSON text of a value (RawNumber written as its text). */
export function stringifyJson(v: JsonValue): string {
  if (v instanceof RawNumber) return v.text;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stringifyJson).join(',')}]`;
  const parts: string[] = [];
  for (const k of Object.keys(v)) parts.push(`${JSON.stringify(k)}:${stringifyJson(v[k]!)}`);
  return `{${parts.join(',')}}`;
}

const MAX_DEPTH = 512;

class Reader {
  i = 0;
  constructor(readonly s: string) {}

  fail(message: string): never {
    throw new JsonSyntaxError(`${message} at position ${this.i}`, this.i);
  }

  ws(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
    this.i = i;
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    const c = this.s.charCodeAt(this.i);
    if (c === 123 /* { */) return this.object(depth);
    if (c === 91 /* [ */) return this.array(depth);
    if (c === 34 /* " */) return this.string();
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) return this.number();
    if (this.s.startsWith('true', this.i)) {
      this.i += 4;
      return true;
    }
    if (this.s.startsWith('false', this.i)) {
      this.i += 5;
      return false;
    }
    if (this.s.startsWith('null', this.i)) {
      this.i += 4;
      return null;
    }
    if (this.i >= this.s.length) this.fail('unexpected end of input');
    this.fail(`unexpected character ${JSON.stringify(this.s[this.i])}`);
  }

  object(depth: number): JsonValue {
    this.i++;
    const out = Object.create(null) as { [key: string]: JsonValue };
    this.ws();
    if (this.s.charCodeAt(this.i) === 125 /* } */) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s.charCodeAt(this.i) !== 34) this.fail('expected a double-quoted key');
      const key = this.string();
      this.ws();
      if (this.s.charCodeAt(this.i) !== 58 /* : */) this.fail('expected `:` after a key');
      this.i++;
      this.ws();
      out[key] = this.value(depth + 1);
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 44 /* , */) {
        this.i++;
        continue;
      }
      if (c === 125) {
        this.i++;
        return out;
      }
      this.fail('expected `,` or `}` in an object');
    }
  }

  array(depth: number): JsonValue {
    this.i++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.s.charCodeAt(this.i) === 93 /* ] */) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 44) {
        this.i++;
        continue;
      }
      if (c === 93) {
        this.i++;
        return out;
      }
      this.fail('expected `,` or `]` in an array');
    }
  }

  string(): string {
    const s = this.s;
    const start = ++this.i;
    // Fast scan: no escapes and no control characters.
    let i = start;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 34) {
        this.i = i + 1;
        return s.slice(start, i);
      }
      if (c === 92 || c < 32 || Number.isNaN(c)) break;
      i++;
    }
    let out = s.slice(start, i);
    for (;;) {
      const c = s.charCodeAt(i);
      if (Number.isNaN(c)) {
        this.i = i;
        this.fail('unterminated string');
      }
      if (c === 34) {
        this.i = i + 1;
        return out;
      }
      if (c < 32) {
        this.i = i;
        this.fail('control character in a string');
      }
      if (c !== 92) {
        out += s[i];
        i++;
        continue;
      }
      const e = s[i + 1];
      i += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hex = s.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            this.i = i;
            this.fail('invalid \\u escape');
          }
          out += String.fromCharCode(Number.parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          this.i = i - 1;
          this.fail('invalid escape');
      }
    }
  }

  number(): RawNumber {
    const m = NUMBER.exec(this.s.slice(this.i, this.i + 1024));
    if (!m) this.fail('invalid number');
    this.i += m[0].length;
    return new RawNumber(m[0]);
  }
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/;
