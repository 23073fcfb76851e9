/**
 * Numbers as ClickHouse wrote them. JSON.parse turns every number into a double, which rounds a
 * UInt64 past 2^53, an Int128 or a Decimal(38, 10): `tally test` would then pass a case
 * expecting 18446744073709551614 against an answer of 18446744073709551615. `parseExactJson`
 * keeps such numbers as an ExactNumber holding the digits; every other value is what JSON.parse
 * gives. Used by `tally test` and `tally diff`, which compare answers.
 */

/** A number of an answer that a double cannot hold: the digits ClickHouse wrote. */
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

/** A number token of 16 characters or more: only those may not fit a double. */
const LONG_NUMBER = /[-\d.eE+]{16}/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\.)*"/y;

/**
 * JSON.parse, except that a number a double cannot hold (see fitsDouble) becomes an ExactNumber.
 * Throws a SyntaxError on text that is not JSON.
 */
export function parseExactJson(text: string): unknown {
  if (!LONG_NUMBER.test(text)) return JSON.parse(text);
  let at = 0;
  const fail = (): never => {
    throw new SyntaxError(`Unexpected ${at < text.length ? 'token' : 'end'} in JSON at position ${at}`);
  };
  const space = () => {
    for (;;) {
      const c = text.charCodeAt(at);
      if (c === 32 || c === 9 || c === 10 || c === 13) at++;
      else return;
    }
  };
  const expect = (c: string) => {
    space();
    if (text[at] !== c) fail();
    at++;
  };
  const string = (): string => {
    STRING.lastIndex = at;
    const m = STRING.exec(text);
    if (!m) return fail();
    at = STRING.lastIndex;
    return JSON.parse(m[0]) as string;
  };
  const value = (): unknown => {
    space();
    const c = text[at];
    if (c === '"') return string();
    if (c === '{') {
      at++;
      const out: Record<string, unknown> = {};
      space();
      if (text[at] === '}') {
        at++;
        return out;
      }
      for (;;) {
        space();
        const key = string();
        expect(':');
        // An own property even for `__proto__`, as JSON.parse makes it.
        Object.defineProperty(out, key, {
          value: value(),
          enumerable: true,
          writable: true,
          configurable: true,
        });
        space();
        if (text[at] === ',') at++;
        else {
          expect('}');
          return out;
        }
      }
    }
    if (c === '[') {
      at++;
      const out: unknown[] = [];
      space();
      if (text[at] === ']') {
        at++;
        return out;
      }
      for (;;) {
        out.push(value());
        space();
        if (text[at] === ',') at++;
        else {
          expect(']');
          return out;
        }
      }
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = at;
    const m = NUMBER.exec(text);
    if (!m) return fail();
    at = NUMBER.lastIndex;
    const n = Number(m[0]);
    return fitsDouble(m[0], n) ? n : new ExactNumber(m[0]);
  };
  const out = value();
  space();
  if (at < text.length) fail();
  return out;
}
