import { didYouMean } from '../util/did-you-mean.ts';
import type { TypeArg, TypeNode } from './model.ts';

/** The outcome of parsing a type: the type, or what is wrong and where (offset into the text). */
export type ParseTypeResult =
  | { ok: true; type: TypeNode }
  | { ok: false; message: string; offset: number; hint?: string };

const SIMPLE_TYPES = [
  'String',
  'Int8',
  'Int16',
  'Int32',
  'Int64',
  'Int128',
  'Int256',
  'UInt8',
  'UInt16',
  'UInt32',
  'UInt64',
  'UInt128',
  'UInt256',
  'Float32',
  'Float64',
  'Bool',
  'Date',
  'Date32',
  'UUID',
  'IPv4',
  'IPv6',
] as const;

const COMPOSITE_TYPES = [
  'FixedString',
  'Decimal',
  'Decimal32',
  'Decimal64',
  'Decimal128',
  'Decimal256',
  'DateTime',
  'DateTime64',
  'Enum8',
  'Enum16',
  'Nullable',
  'LowCardinality',
  'Array',
  'Tuple',
  'Map',
  'Nested',
  'AggregateFunction',
  'SimpleAggregateFunction',
] as const;

/** Every ClickHouse type name Tally knows, as ClickHouse spells it. */
export const TYPE_NAMES: readonly string[] = [...SIMPLE_TYPES, ...COMPOSITE_TYPES];

/** Other spellings ClickHouse accepts, mapped to the canonical name. */
const ALIASES: Readonly<Record<string, string>> = { Boolean: 'Bool' };

/** Integer types and their inclusive ranges. */
export const INTEGER_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  Int8: [-(2n ** 7n), 2n ** 7n - 1n],
  Int16: [-(2n ** 15n), 2n ** 15n - 1n],
  Int32: [-(2n ** 31n), 2n ** 31n - 1n],
  Int64: [-(2n ** 63n), 2n ** 63n - 1n],
  Int128: [-(2n ** 127n), 2n ** 127n - 1n],
  Int256: [-(2n ** 255n), 2n ** 255n - 1n],
  UInt8: [0n, 2n ** 8n - 1n],
  UInt16: [0n, 2n ** 16n - 1n],
  UInt32: [0n, 2n ** 32n - 1n],
  UInt64: [0n, 2n ** 64n - 1n],
  UInt128: [0n, 2n ** 128n - 1n],
  UInt256: [0n, 2n ** 256n - 1n],
};

const DECIMAL_MAX_SCALE: Readonly<Record<string, number>> = {
  Decimal32: 9,
  Decimal64: 18,
  Decimal128: 38,
  Decimal256: 76,
};

const WRAPPERS = new Set(['Nullable', 'LowCardinality', 'Array', 'Tuple', 'Map', 'Nested']);
const AGGREGATES = new Set(['AggregateFunction', 'SimpleAggregateFunction']);

/** A type that holds aggregate states: materialized pipes fill such columns, events never do. */
export function isAggregateState(type: { name: string }): boolean {
  return AGGREGATES.has(type.name);
}
const LOW_CARDINALITY_OK = new Set([
  'String',
  'FixedString',
  'Date',
  'Date32',
  'DateTime',
  ...Object.keys(INTEGER_RANGES),
  'Float32',
  'Float64',
]);
const MAP_KEY_OK = new Set([
  'String',
  'FixedString',
  ...Object.keys(INTEGER_RANGES),
  'Date',
  'Date32',
  'DateTime',
  'UUID',
  'Enum8',
  'Enum16',
  'LowCardinality',
  'Bool',
]);

/**
 * Parses a ClickHouse type expression such as `Nullable(LowCardinality(String))`,
 * `Decimal(18, 2)` or `AggregateFunction(argMax, String, DateTime)` into a TypeNode with a
 * canonical `text`. Errors name the bad part, with its offset in `text`.
 */
export function parseType(text: string): ParseTypeResult {
  try {
    const p = new TypeParser(text);
    const type = p.parseType(undefined);
    p.expectEnd();
    return { ok: true, type };
  } catch (e) {
    if (e instanceof TypeSyntaxError) {
      return { ok: false, message: e.message, offset: e.offset, ...(e.hint ? { hint: e.hint } : {}) };
    }
    throw e;
  }
}

/** Renders a TypeNode's canonical text from its name and arguments. */
export function typeText(name: string, args: readonly TypeArg[]): string {
  return args.length === 0 ? name : `${name}(${args.map(argText).join(', ')})`;
}

/** The type inside Nullable(...) and LowCardinality(...), which only change storage. */
export function baseType(t: TypeNode): TypeNode {
  const inner = t.args[0];
  if ((t.name === 'Nullable' || t.name === 'LowCardinality') && inner?.kind === 'type')
    return baseType(inner.type);
  return t;
}

export function isIntegerType(t: TypeNode): boolean {
  return t.name in INTEGER_RANGES;
}

export function isNumericType(t: TypeNode): boolean {
  return isIntegerType(t) || t.name === 'Float32' || t.name === 'Float64' || isDecimalType(t);
}

export function isDecimalType(t: TypeNode): boolean {
  return t.name === 'Decimal' || t.name in DECIMAL_MAX_SCALE;
}

/** Precision and scale of any Decimal spelling. */
export function decimalShape(t: TypeNode): { precision: number; scale: number } | undefined {
  const nums = t.args.map((a) => (a.kind === 'number' ? a.value : Number.NaN));
  if (t.name === 'Decimal') return { precision: nums[0]!, scale: nums[1]! };
  const precision = { Decimal32: 9, Decimal64: 18, Decimal128: 38, Decimal256: 76 }[t.name];
  return precision === undefined ? undefined : { precision, scale: nums[0]! };
}

// ---------------------------------------------------------------------------------------------

class TypeSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

interface Token {
  kind: 'ident' | 'number' | 'string' | 'punct' | 'end';
  text: string;
  start: number;
  /** Unescaped value of a string token. */
  value?: string;
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
      out.push({ kind: 'ident', text: text.slice(start, i), start });
    } else if (/[-+0-9.]/.test(c)) {
      const m = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/.exec(text.slice(i));
      if (!m) throw new TypeSyntaxError(`unexpected \`${c}\``, i);
      i += m[0].length;
      out.push({ kind: 'number', text: m[0], start });
    } else if (c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new TypeSyntaxError('unterminated string', start, "close it with '");
        const ch = text[i]!;
        if (ch === '\\' && i + 1 < text.length) {
          value += unescapeChar(text[i + 1]!);
          i += 2;
        } else if (ch === "'" && text[i + 1] === "'") {
          value += "'";
          i += 2;
        } else if (ch === "'") {
          i++;
          break;
        } else {
          value += ch;
          i++;
        }
      }
      out.push({ kind: 'string', text: text.slice(start, i), start, value });
    } else if ('(),='.includes(c)) {
      i++;
      out.push({ kind: 'punct', text: c, start });
    } else {
      throw new TypeSyntaxError(`unexpected \`${c}\` in type`, i);
    }
  }
  out.push({ kind: 'end', text: '', start: text.length });
  return out;
}

function unescapeChar(c: string): string {
  return ({ n: '\n', t: '\t', r: '\r', '0': '\0' } as Record<string, string>)[c] ?? c;
}

class TypeParser {
  private readonly tokens: Token[];
  private pos = 0;

  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  expectEnd(): void {
    const t = this.peek();
    if (t.kind !== 'end') throw new TypeSyntaxError(`unexpected \`${t.text}\` after the type`, t.start);
  }

  /** `parent` names the enclosing type, for nesting rules. */
  parseType(parent: string | undefined): TypeNode {
    const tok = this.peek();
    if (tok.kind !== 'ident') {
      throw new TypeSyntaxError(
        tok.kind === 'end' ? 'expected a type name' : `expected a type name, found \`${tok.text}\``,
        tok.start,
      );
    }
    this.pos++;
    const name = ALIASES[tok.text] ?? tok.text;
    if (!TYPE_NAMES.includes(name)) {
      throw new TypeSyntaxError(
        `unknown ClickHouse type \`${tok.text}\`${didYouMean(tok.text, [...TYPE_NAMES, ...Object.keys(ALIASES)])}`,
        tok.start,
      );
    }
    if (name === 'Nested' && parent !== undefined) {
      throw new TypeSyntaxError(
        `Nested is only allowed as a column's own type, not inside ${parent}`,
        tok.start,
      );
    }
    const hasArgs = this.peek().text === '(' && this.peek().kind === 'punct';
    if ((SIMPLE_TYPES as readonly string[]).includes(name)) {
      if (hasArgs) throw new TypeSyntaxError(`${name} takes no arguments`, this.peek().start);
      return { name, args: [], text: name };
    }
    if (!hasArgs && name !== 'DateTime') {
      throw new TypeSyntaxError(`${name} needs arguments, e.g. ${EXAMPLES[name]}`, tok.start);
    }
    const args = hasArgs ? this.parseArgs(name, tok.start) : [];
    return { name, args, text: typeText(name, args) };
  }

  private parseArgs(name: string, nameStart: number): TypeArg[] {
    const open = this.next(); // (
    const args: TypeArg[] = [];
    const argStarts: number[] = [];
    if (this.peek().text === ')' && this.peek().kind === 'punct') {
      throw new TypeSyntaxError(`${name}() needs arguments, e.g. ${EXAMPLES[name]}`, this.peek().start);
    }
    for (;;) {
      argStarts.push(this.peek().start);
      args.push(this.parseArg(name, args.length));
      const t = this.next();
      if (t.kind === 'punct' && t.text === ')') break;
      if (t.kind === 'punct' && t.text === ',') continue;
      if (t.kind === 'end')
        throw new TypeSyntaxError(`\`(\` after ${name} is never closed`, open.start, 'add `)`');
      throw new TypeSyntaxError(`expected \`,\` or \`)\` in ${name}(...), found \`${t.text}\``, t.start);
    }
    this.checkArgs(name, nameStart, args, argStarts);
    return args;
  }

  private parseArg(name: string, index: number): TypeArg {
    const t = this.peek();
    switch (name) {
      case 'FixedString':
      case 'Decimal':
      case 'Decimal32':
      case 'Decimal64':
      case 'Decimal128':
      case 'Decimal256':
        return { kind: 'number', value: this.number(name) };
      case 'DateTime':
        return { kind: 'string', value: this.string(name, "a time zone such as 'UTC'") };
      case 'DateTime64':
        return index === 0
          ? { kind: 'number', value: this.number(name) }
          : { kind: 'string', value: this.string(name, "a time zone such as 'UTC'") };
      case 'Enum8':
      case 'Enum16': {
        const label = this.string(name, "a value such as 'a' = 1");
        const eq = this.next();
        if (eq.text !== '=')
          throw new TypeSyntaxError(`expected \`=\` and a number after '${label}' in ${name}`, eq.start);
        return { kind: 'enum', name: label, value: this.number(name) };
      }
      case 'Tuple':
      case 'Nested': {
        const after = this.tokens[this.pos + 1];
        if (t.kind === 'ident' && after?.kind === 'ident') {
          this.pos++;
          return { kind: 'type', type: this.parseType(name), field: t.text };
        }
        if (name === 'Nested')
          throw new TypeSyntaxError(
            'Nested elements need a name and a type, e.g. Nested(id UInt64, name String)',
            t.start,
          );
        return { kind: 'type', type: this.parseType(name) };
      }
      case 'AggregateFunction':
      case 'SimpleAggregateFunction':
        if (index === 0) return this.aggregateFunction(name);
        return { kind: 'type', type: this.parseType(name) };
      default:
        return { kind: 'type', type: this.parseType(name) };
    }
  }

  private aggregateFunction(name: string): TypeArg {
    const t = this.next();
    if (t.kind !== 'ident') {
      throw new TypeSyntaxError(
        `${name} starts with an aggregate function name such as sum or argMax`,
        t.start,
      );
    }
    if (!(this.peek().kind === 'punct' && this.peek().text === '(')) return { kind: 'ident', value: t.text };
    if (name === 'SimpleAggregateFunction') {
      throw new TypeSyntaxError(
        'SimpleAggregateFunction takes a function without parameters',
        this.peek().start,
      );
    }
    this.next();
    const params: number[] = [];
    for (;;) {
      params.push(this.number(`${t.text}(...)`, true));
      const sep = this.next();
      if (sep.text === ')') break;
      if (sep.text !== ',') throw new TypeSyntaxError(`expected \`,\` or \`)\` in ${t.text}(...)`, sep.start);
    }
    return { kind: 'ident', value: t.text, params };
  }

  private checkArgs(name: string, nameStart: number, args: TypeArg[], starts: number[]): void {
    const fail = (msg: string, at: number, hint?: string): never => {
      throw new TypeSyntaxError(msg, at, hint);
    };
    const count = (min: number, max: number) => {
      if (args.length < min || args.length > max) {
        const want =
          min === max ? `${min}` : max === Number.POSITIVE_INFINITY ? `at least ${min}` : `${min} or ${max}`;
        fail(
          `${name} takes ${want} argument${min === 1 && max === 1 ? '' : 's'}, e.g. ${EXAMPLES[name]}`,
          nameStart,
        );
      }
    };
    const num = (i: number) => (args[i] as { value: number }).value;
    const intIn = (i: number, lo: number, hi: number, what: string) => {
      const v = num(i);
      if (!Number.isInteger(v) || v < lo || v > hi)
        fail(`${name}: ${what} must be an integer from ${lo} to ${hi}`, starts[i]!);
    };
    const inner = (i: number) => (args[i] as { type: TypeNode }).type;
    switch (name) {
      case 'FixedString':
        count(1, 1);
        intIn(0, 1, 1_000_000, 'the length');
        break;
      case 'Decimal':
        count(1, 2);
        intIn(0, 1, 76, 'the precision');
        if (args.length === 1) args.push({ kind: 'number', value: 0 });
        else intIn(1, 0, num(0), 'the scale');
        break;
      case 'Decimal32':
      case 'Decimal64':
      case 'Decimal128':
      case 'Decimal256':
        count(1, 1);
        intIn(0, 0, DECIMAL_MAX_SCALE[name]!, 'the scale');
        break;
      case 'DateTime':
        count(0, 1);
        if (args[0]) checkTimeZone((args[0] as { value: string }).value, starts[0]!);
        break;
      case 'DateTime64':
        count(1, 2);
        intIn(0, 0, 9, 'the precision');
        if (args[1]) checkTimeZone((args[1] as { value: string }).value, starts[1]!);
        break;
      case 'Enum8':
      case 'Enum16': {
        const [lo, hi] = name === 'Enum8' ? [-128, 127] : [-32768, 32767];
        const names = new Set<string>();
        const values = new Set<number>();
        args.forEach((a, i) => {
          const e = a as { name: string; value: number };
          if (!Number.isInteger(e.value) || e.value < lo || e.value > hi) {
            fail(`${name}: the value of '${e.name}' must be an integer from ${lo} to ${hi}`, starts[i]!);
          }
          if (names.has(e.name)) fail(`${name}: '${e.name}' appears twice`, starts[i]!);
          if (values.has(e.value)) fail(`${name}: the value ${e.value} appears twice`, starts[i]!);
          names.add(e.name);
          values.add(e.value);
        });
        break;
      }
      case 'Nullable': {
        count(1, 1);
        const t = inner(0);
        if (WRAPPERS.has(t.name) || AGGREGATES.has(t.name)) {
          const hint =
            t.name === 'LowCardinality'
              ? `write LowCardinality(Nullable(...)) instead`
              : t.name === 'Array'
                ? `write Array(Nullable(...)) to allow NULL elements`
                : undefined;
          fail(`Nullable cannot contain ${t.name}`, starts[0]!, hint);
        }
        break;
      }
      case 'LowCardinality': {
        count(1, 1);
        const t = inner(0);
        const base = t.name === 'Nullable' ? (t.args[0] as { type: TypeNode }).type : t;
        if (!LOW_CARDINALITY_OK.has(base.name)) {
          fail(
            `LowCardinality cannot contain ${t.text}`,
            starts[0]!,
            'use it with String, FixedString, numbers, Date or DateTime',
          );
        }
        break;
      }
      case 'Array':
        count(1, 1);
        break;
      case 'Tuple':
      case 'Nested': {
        count(1, Number.POSITIVE_INFINITY);
        const named = args.filter((a) => a.kind === 'type' && a.field !== undefined).length;
        if (named !== 0 && named !== args.length) fail(`${name}: name all elements or none`, nameStart);
        const seen = new Set<string>();
        args.forEach((a, i) => {
          const field = (a as { field?: string }).field;
          if (field === undefined) return;
          if (seen.has(field)) fail(`${name}: element \`${field}\` appears twice`, starts[i]!);
          seen.add(field);
        });
        break;
      }
      case 'Map': {
        count(2, 2);
        const k = inner(0);
        if (!MAP_KEY_OK.has(k.name)) {
          fail(
            `Map keys cannot be ${k.text}`,
            starts[0]!,
            'use String, an integer, Date, DateTime, UUID, an Enum or LowCardinality(String)',
          );
        }
        break;
      }
      case 'AggregateFunction':
        count(1, Number.POSITIVE_INFINITY);
        break;
      case 'SimpleAggregateFunction':
        count(2, 2);
        break;
    }
  }

  private number(where: string, allowFraction = false): number {
    const t = this.next();
    if (t.kind !== 'number')
      throw new TypeSyntaxError(`expected a number in ${where}, found \`${t.text || 'the end'}\``, t.start);
    const v = Number(t.text);
    if (!allowFraction && !Number.isInteger(v))
      throw new TypeSyntaxError(`expected an integer in ${where}`, t.start);
    return v;
  }

  private string(where: string, example: string): string {
    const t = this.next();
    if (t.kind !== 'string') {
      throw new TypeSyntaxError(
        `expected a quoted string in ${where} (${example}), found \`${t.text || 'the end'}\``,
        t.start,
      );
    }
    return t.value!;
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private next(): Token {
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'end') this.pos++;
    return t;
  }
}

const EXAMPLES: Readonly<Record<string, string>> = {
  FixedString: 'FixedString(16)',
  Decimal: 'Decimal(18, 2)',
  Decimal32: 'Decimal32(4)',
  Decimal64: 'Decimal64(4)',
  Decimal128: 'Decimal128(4)',
  Decimal256: 'Decimal256(4)',
  DateTime: "DateTime('UTC')",
  DateTime64: "DateTime64(3, 'UTC')",
  Enum8: "Enum8('a' = 1, 'b' = 2)",
  Enum16: "Enum16('a' = 1, 'b' = 2)",
  Nullable: 'Nullable(String)',
  LowCardinality: 'LowCardinality(String)',
  Array: 'Array(String)',
  Tuple: 'Tuple(String, UInt8) or Tuple(name String, age UInt8)',
  Map: 'Map(String, UInt64)',
  Nested: 'Nested(id UInt64, name String)',
  AggregateFunction: 'AggregateFunction(argMax, String, DateTime)',
  SimpleAggregateFunction: 'SimpleAggregateFunction(sum, UInt64)',
};

const knownZones = new Map<string, boolean>();

function checkTimeZone(tz: string, at: number): void {
  let ok = knownZones.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      ok = true;
    } catch {
      ok = false;
    }
    knownZones.set(tz, ok);
  }
  if (!ok)
    throw new TypeSyntaxError(
      `unknown time zone '${tz}'`,
      at,
      "use an IANA name such as 'UTC' or 'Europe/Berlin'",
    );
}

function argText(a: TypeArg): string {
  switch (a.kind) {
    case 'type':
      return a.field === undefined ? a.type.text : `${a.field} ${a.type.text}`;
    case 'number':
      return String(a.value);
    case 'string':
      return quote(a.value);
    case 'ident':
      return a.params ? `${a.value}(${a.params.join(', ')})` : a.value;
    case 'enum':
      return `${quote(a.name)} = ${a.value}`;
  }
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
