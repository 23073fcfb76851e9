/**
 * JSON read with numbers kept exactly as written. JSON.parse turns every number into a double,
 * which rounds a UInt64 past 2^53, an Int128 or a Decimal(38, 10), and Node 20 cannot show a
 * number's source text. Two readers share one scanner:
 * - `parseJsonExact` (ingestion): every number an ExactNumber, objects without a prototype; the
 *   row parser uses it only for events where it cannot find a number's text directly.
 * - `parseExactJson` (`tally test`, `tally diff`, which compare answers): JSON.parse's values,
 *   except a number a double cannot hold (see fitsDouble), kept as an ExactNumber. Without it a
 *   case expecting 18446744073709551614 would pass against an answer of 18446744073709551615.
 */

/** A JSON number as the digits it was written with, e.g. `12345678901234567.89`. */
export class ExactNumber {
  constructor(readonly text: string) {}

  /** JSON has no way to write it bare from JavaScript: a string of its digits. */
  toJSON(): string {
    return this.text;
  }

  toString(): string {
    return this.text;
  }
}

/**
 * A Float32 or Float64 value of an answer: a double, compared as one whatever digits a test file
 * writes for it (12345678901234567890 is the double 12345678901234567000).
 */
export class DoubleValue {
  constructor(readonly value: number) {}

  toJSON(): number {
    return this.value;
  }

  toString(): string {
    return String(this.value);
  }
}

/** A decimal number as text (JSON's syntax, with `.5` and `5.` allowed, and spaces around). */
export const NUMERIC = /^\s*-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/**
 * The exact value of a numeric text as `<digits>e<exponent>`, without leading or trailing zeros
 * (`0` for zero): two texts of the same number have the same key (`1.50` and `15e-1`).
 * Undefined when `text` is not a number.
 */
export function decimalKey(text: string): string | undefined {
  if (!NUMERIC.test(text)) return undefined;
  const t = text.trim();
  const negative = t.startsWith('-');
  const e = t.search(/[eE]/);
  const mantissa = (e === -1 ? t : t.slice(0, e)).replace('-', '');
  const dot = mantissa.indexOf('.');
  const fraction = dot === -1 ? '' : mantissa.slice(dot + 1);
  let digits = (dot === -1 ? mantissa : mantissa.slice(0, dot) + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  let exponent = (e === -1 ? 0 : Number(t.slice(e + 1))) - fraction.length;
  const kept = digits.replace(/0+$/, '');
  exponent += digits.length - kept.length;
  digits = kept;
  return `${negative ? '-' : ''}${digits}e${exponent}`;
}

/**
 * Whether the double `n` read from the numeric text `text` stands for the same number: finite,
 * not an integer past 2^53 (written without an exponent, as integers and decimals are), and
 * written back the same (`0.1` yes, `0.10000000000000000001` no).
 */
export function fitsDouble(text: string, n: number): boolean {
  if (!Number.isFinite(n)) return false;
  if (Math.abs(n) >= 2 ** 53 && !/[eE]/.test(text)) return false;
  // At most 15 significant digits always come back from a double as they were.
  if (text.length <= 16) return true;
  return decimalKey(text) === decimalKey(String(n));
}

/** A value read from JSON: as `JSON.parse` gives it, or with `ExactNumber` for numbers (exact reader). */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | ExactNumber
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Text that is not JSON; a SyntaxError, as JSON.parse throws, with where it went wrong. */
export class JsonSyntaxError extends SyntaxError {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

/** Parses JSON text; numbers become `ExactNumber`, objects have no prototype. Throws JsonSyntaxError. */
export function parseJsonExact(text: string): JsonValue {
  return read(text, EVERY_NUMBER_EXACT);
}

const EVERY_NUMBER_EXACT: Build = {
  number: (text) => new ExactNumber(text),
  object: () => Object.create(null) as { [key: string]: JsonValue },
};

/** JSON.parse's values, except numbers a double cannot hold. */
const UNFIT_NUMBERS_EXACT: Build = {
  number: (text) => {
    const n = Number(text);
    return fitsDouble(text, n) ? n : new ExactNumber(text);
  },
  object: () => ({}),
};

/** A number token of 16 characters or more: only those may not fit a double. */
const LONG_NUMBER = /[-\d.eE+]{16}/;

/**
 * JSON.parse, except that a number a double cannot hold (see fitsDouble) becomes an ExactNumber.
 * Throws a SyntaxError on text that is not JSON.
 */
export function parseExactJson(text: string): unknown {
  return LONG_NUMBER.test(text) ? read(text, UNFIT_NUMBERS_EXACT) : JSON.parse(text);
}

function read(text: string, build: Build): JsonValue {
  const r = new Reader(text, build);
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

/** Compact JSON text of a value (ExactNumber written as its text). */
export function stringifyJson(v: JsonValue): string {
  if (v instanceof ExactNumber) return v.text;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stringifyJson).join(',')}]`;
  const parts: string[] = [];
  for (const k of Object.keys(v)) parts.push(`${JSON.stringify(k)}:${stringifyJson(v[k]!)}`);
  return `{${parts.join(',')}}`;
}

const MAX_DEPTH = 512;

/** How a reader builds what it reads: numbers from their text, and objects. */
interface Build {
  number(text: string): JsonValue;
  /** A new, empty object; the reader defines each key on it as JSON.parse does (`__proto__` too). */
  object(): { [key: string]: JsonValue };
}

class Reader {
  i = 0;
  constructor(
    readonly s: string,
    readonly build: Build,
  ) {}

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
    const out = this.build.object();
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
      Object.defineProperty(out, key, {
        value: this.value(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
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

  number(): JsonValue {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m) this.fail('invalid number');
    this.i = NUMBER.lastIndex;
    return this.build.number(m[0]);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
