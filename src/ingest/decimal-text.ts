/**
 * Exact decimal arithmetic on number text: `1.50e2` -> 150, `-0.000` -> 0. Never goes through a
 * double, so Decimal and 64-bit integer columns keep every digit.
 */

export interface DecimalParts {
  negative: boolean;
  /** Digits before the point, without leading zeros (`0` for none). */
  int: string;
  /** Digits after the point, without trailing zeros (empty for none). */
  frac: string;
}

/** JSON number grammar, the only number syntax accepted anywhere (also inside strings). */
export const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const PLAIN_INTEGER = /^(-?)(\d+)$/;
/** What `String(number)` produces in JavaScript (`1e+21`, `1.5e-7`). */
const LOOSE_NUMBER = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** Exponents beyond this are out of range for every ClickHouse number type. */
const MAX_EXPONENT = 400;

/** Splits number text into normalized parts; undefined when it is not a number or absurdly large. */
export function decimalParts(text: string): DecimalParts | undefined {
  const m = LOOSE_NUMBER.exec(text);
  if (!m) return undefined;
  const intIn = m[2]!;
  const fracIn = m[3] ?? '';
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  if (Math.abs(exp) > MAX_EXPONENT) {
    // Either huge (out of range for everything) or tiny (too many fraction digits for everything).
    if (/^0*$/.test(intIn + fracIn)) return { negative: false, int: '0', frac: '' };
    return exp > 0
      ? { negative: m[1] === '-', int: '1' + '0'.repeat(MAX_EXPONENT), frac: '' }
      : { negative: m[1] === '-', int: '0', frac: '0'.repeat(MAX_EXPONENT) + '1' };
  }
  const digits = intIn + fracIn;
  const point = intIn.length + exp;
  let int: string;
  let frac: string;
  if (point <= 0) {
    int = '0';
    frac = '0'.repeat(-point) + digits;
  } else if (point >= digits.length) {
    int = digits + '0'.repeat(point - digits.length);
    frac = '';
  } else {
    int = digits.slice(0, point);
    frac = digits.slice(point);
  }
  int = int.replace(/^0+(?=\d)/, '');
  frac = frac.replace(/0+$/, '');
  const zero = int === '0' && frac === '';
  return { negative: m[1] === '-' && !zero, int, frac };
}

/** `-12.5`, `0`, `100`: the parts as plain decimal text. */
export function decimalText(p: DecimalParts): string {
  return `${p.negative ? '-' : ''}${p.int}${p.frac ? `.${p.frac}` : ''}`;
}

/** Number of significant integer digits (0 for `0.x`). */
export function intDigits(p: DecimalParts): number {
  return p.int === '0' ? 0 : p.int.length;
}

/**
 * Number text multiplied by 10^shift, exactly (`1234`, -2 -> `12.34`; `1.5e1`, 1 -> `150`): the
 * point moves on the digits, never through a double. Undefined when `text` is not a number.
 */
export function shiftDecimal(text: string, shift: number): string | undefined {
  const m = shift < 0 ? PLAIN_INTEGER.exec(text) : null;
  if (m) {
    // The common case, integer cents and the like: insert the point, with no second parse.
    const k = -shift;
    let digits = m[2]!;
    if (digits.length <= k) digits = '0'.repeat(k + 1 - digits.length) + digits;
    const int = digits.slice(0, digits.length - k).replace(/^0+(?=\d)/, '');
    const frac = digits.slice(digits.length - k).replace(/0+$/, '');
    const negative = m[1] === '-' && (int !== '0' || frac !== '');
    return `${negative ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
  }
  const p = decimalParts(text);
  if (!p) return undefined;
  const moved = decimalParts(`${p.negative ? '-' : ''}${p.int}${p.frac ? `.${p.frac}` : ''}e${shift}`);
  return moved && decimalText(moved);
}
