/**
 * One JSON event -> one row of a data source's columns, or every reason it does not fit.
 * Pure: no I/O. Values come out as JSONEachRow text (see coerce-value.ts), so the insert keeps
 * exact digits; columns whose default is a ClickHouse expression are left for ClickHouse
 * (`undefined` cells) when the event lacks them.
 */

import { TallyError } from '../errors.ts';
import type { Column, ColumnMapping, DataSource, TypeNode, VersionMapping } from '../project/model.ts';
import { ExactNumber, JsonSyntaxError, type JsonValue, parseJsonExact } from '../util/exact-json.ts';
import {
  type CompiledType,
  compileType,
  describe,
  numberShown,
  Refusal,
  type ServerLimits,
  UnsupportedType,
} from './coerce-value.ts';
import { JSON_NUMBER, shiftDecimal } from './decimal-text.ts';
import { type DedupKey, dedupKeyOf } from './dedup-key.ts';
import { compileVersionSelector, type VersionSelector } from './event-versions.ts';
import { lookup } from './json-lookup.ts';

/** Where an event came from in Kafka; absent for HTTP. Fills the `__topic`... metadata columns. */
export interface EventMeta {
  topic: string;
  partition: number;
  offset: number;
  /** Message timestamp, epoch milliseconds. */
  timestamp: number;
  key: string | null;
  /** Headers as a JSON object text. */
  headers: string;
}

export interface RowProblem {
  /** The column, or undefined for a problem with the whole event (e.g. malformed JSON). */
  column?: string;
  message: string;
}

export type ParsedRow =
  | {
      ok: true;
      /** JSONEachRow value text per insert column; undefined = let ClickHouse evaluate its default. */
      cells: (string | undefined)[];
      /** The dedup key, when the data source has one. */
      key?: string;
    }
  | { ok: false; problems: RowProblem[] };

/**
 * What `parseLine` gives: a good row as its JSONEachRow line of every insert column (compact:
 * one string, which is what a batch of rows holds while it waits for ClickHouse), or its cells
 * when a `default_expr` column is missing (the flush decides), or the problems.
 */
export type ParsedLine =
  | { ok: true; line: string; key?: string; cells?: undefined }
  | { ok: true; cells: (string | undefined)[]; key?: string; line?: undefined }
  | { ok: false; problems: RowProblem[] };

/** A row as a batch holds it: as `parseLine` gave it, or its line in the batch's text. */
export type QueuedRow = ParsedLine | InBatchLine;

/**
 * A good row whose line went into its batch's text (`parseLineInto`): a Kafka fetch's rows wait
 * for ClickHouse as one string per batch, not one per row (strings that live until a flush are
 * promoted by the garbage collector one by one, and the insert body is built per batch).
 */
export interface InBatchLine {
  ok: true;
  inBatch: true;
  key?: string;
  line?: undefined;
  cells?: undefined;
}

/** The row of every in-batch line without a dedup key: shared, nothing allocated per row. */
const IN_BATCH: InBatchLine = Object.freeze({ ok: true, inBatch: true });

/** A column of the insert: its JSON key prefix and, for default_expr columns, the expression. */
export interface InsertColumn {
  name: string;
  /** `"name":`, precomputed for building rows. */
  prefix: string;
  /** The ClickHouse DEFAULT expression, when the column has one that is not a plain value. */
  defaultExpr?: string;
  typeText: string;
  /** The column's type (absent for the hidden Kafka coordinate columns, which are integers). */
  type?: TypeNode;
}

export interface RowParserOptions {
  /**
   * Kafka coordinate columns the table has although the model does not list them (deploy adds
   * them for exactly-once ingestion); they are filled like metadata columns.
   */
  hiddenColumns?: readonly ('__partition' | '__offset')[];
  /**
   * The server the rows go to (`engine.capabilities`): values it would store wrongly are refused
   * (dates after 2105 on 18.16). Without it, every value the column types hold is taken.
   */
  capabilities?: ServerLimits;
}

/** `exact`: the event came from the exact reader (numbers are ExactNumber), so never ask for it again. */
type Extractor = (
  event: JsonValue,
  raw: string,
  meta: EventMeta | undefined,
  exact: boolean,
) => string | undefined | Refusal;

const METADATA = new Set(['__topic', '__partition', '__offset', '__timestamp', '__key', '__headers']);

/** The compiled parser of one data source. */
export class RowParser {
  readonly columns: readonly InsertColumn[];
  readonly dedupKey: DedupKey | undefined;
  private readonly extractors: Extractor[];
  /** Versioned events: the extractors of the event's version (compiled once per version). */
  private readonly selectVersion: VersionSelector<Extractor[]> | undefined;
  private readonly keyIndexes: number[];
  private readonly needsObject: boolean;
  /** `{"a":`, cell, `,"b":`, cell, ..., `}`: reused for each line (cells overwritten). */
  private readonly lineParts: string[];
  /** Some column is filled from the Kafka message (metadata or hidden coordinates). */
  readonly usesMeta: boolean;
  /** Some column stores the message key or headers (costly to decode for every message). */
  readonly usesKeyOrHeaders: boolean;

  constructor(
    readonly datasource: DataSource,
    opts: RowParserOptions = {},
  ) {
    const cols: InsertColumn[] = [];
    const unsupported = new Map<string, string>();
    const kafka = datasource.kafka !== undefined;
    const hidden = (opts.hiddenColumns ?? []).filter((n) => !datasource.columns.some((c) => c.name === n));
    // The extractors of every insert column, for one version's mapping (or none).
    const compileAll = (version?: VersionMapping): Extractor[] => {
      const out: Extractor[] = [];
      for (const col of datasource.columns) {
        const mapping = version?.columns.find((m) => m.column === col.name);
        try {
          out.push(
            compileColumn(
              col,
              kafka,
              mapping && version ? { ...mapping, version: version.version } : undefined,
              opts.capabilities,
            ),
          );
        } catch (err) {
          if (!(err instanceof UnsupportedType)) throw err;
          unsupported.set(col.name, err.message);
        }
      }
      for (const name of hidden) out.push(metadataExtractor(name));
      return out;
    };
    const extractors = compileAll();
    for (const col of datasource.columns) {
      if (unsupported.has(col.name)) continue;
      cols.push({
        name: col.name,
        prefix: `${JSON.stringify(col.name)}:`,
        ...(col.default !== undefined && col.defaultValue === undefined ? { defaultExpr: col.default } : {}),
        typeText: col.type.text,
        type: col.type,
      });
    }
    if (unsupported.size > 0) {
      const which = [...unsupported].map(([name, why]) => `\`${name}\`: ${why}`);
      throw new TallyError(
        'ingest-unsupported',
        `data source \`${datasource.name}\` cannot take events: ${which.join('; ')}`,
        { location: datasource.loc },
      );
    }
    for (const name of hidden) {
      cols.push({
        name,
        prefix: `${JSON.stringify(name)}:`,
        typeText: name === '__partition' ? 'Int32' : 'Int64',
      });
    }
    this.selectVersion = datasource.versions && compileVersionSelector(datasource.versions, compileAll);
    this.columns = cols;
    this.extractors = extractors;
    this.lineParts = cols.flatMap((c, i) => [(i === 0 ? '{' : ',') + c.prefix, '']).concat('}');
    this.dedupKey = dedupKeyOf(datasource);
    this.keyIndexes = (this.dedupKey?.columns ?? []).map((k) => cols.findIndex((c) => c.name === k));
    this.needsObject =
      datasource.versions !== undefined ||
      datasource.columns.some((c) => c.json && c.json.segments.length > 0);
    const meta = cols.filter(
      (c) => METADATA.has(c.name) && !datasource.columns.find((d) => d.name === c.name)?.json,
    );
    this.usesMeta = meta.length > 0;
    this.usesKeyOrHeaders = meta.some((c) => c.name === '__key' || c.name === '__headers');
  }

  /** Parses one event into its insert line (see ParsedLine). */
  parseLine(raw: string, meta?: EventMeta): ParsedLine {
    const r = this.parse(raw, meta);
    if (!r.ok) return r;
    const line = this.lineOf(r.cells);
    if (line === undefined) return r;
    return r.key === undefined ? { ok: true, line } : { ok: true, line, key: r.key };
  }

  /**
   * `parseLine`, a complete line pushed onto `lines` instead of kept on the row (see InBatchLine);
   * rows with cells or problems come back as `parseLine` gives them.
   */
  parseLineInto(raw: string, meta: EventMeta | undefined, lines: string[]): QueuedRow {
    const r = this.parse(raw, meta);
    if (!r.ok) return r;
    const line = this.lineOf(r.cells);
    if (line === undefined) return r;
    lines.push(line);
    return r.key === undefined ? IN_BATCH : { ok: true, inBatch: true, key: r.key };
  }

  /** The row's JSONEachRow line, or undefined when a cell is left to ClickHouse's default. */
  private lineOf(cells: readonly (string | undefined)[]): string | undefined {
    const parts = this.lineParts;
    for (let i = 0; i < cells.length; i++) {
      const c = cells[i];
      if (c === undefined) return undefined;
      parts[2 * i + 1] = c;
    }
    return parts.join('');
  }

  /** Parses one event (its text exactly as received). */
  parse(raw: string, meta?: EventMeta): ParsedRow {
    let event: JsonValue;
    try {
      event = JSON.parse(raw) as JsonValue;
    } catch {
      return { ok: false, problems: [{ message: malformed(raw) }] };
    }
    try {
      return this.extract(event, raw, meta);
    } catch (err) {
      if (err instanceof RangeError) return tooDeep();
      if (err !== NEEDS_EXACT) throw err;
    }
    // A number in a Decimal or 64-bit column whose source text could not be found alone:
    // read the whole event again, keeping every number's text.
    let exact: JsonValue;
    try {
      exact = parseJsonExact(raw);
    } catch (err) {
      if (err instanceof JsonSyntaxError) return { ok: false, problems: [{ message: err.message }] };
      if (err instanceof RangeError) return tooDeep();
      throw err;
    }
    try {
      return this.extract(exact, raw, meta, true);
    } catch (err) {
      if (err instanceof RangeError) return tooDeep();
      throw err;
    }
  }

  private extract(event: JsonValue, raw: string, meta: EventMeta | undefined, exact = false): ParsedRow {
    if (this.needsObject && (event === null || typeof event !== 'object' || Array.isArray(event))) {
      return {
        ok: false,
        problems: [{ message: `the event is not a JSON object (got ${describe(event)})` }],
      };
    }
    let extractors = this.extractors;
    if (this.selectVersion) {
      const picked = this.selectVersion(event);
      if (picked instanceof Refusal) return { ok: false, problems: [{ message: picked.message }] };
      extractors = picked;
    }
    const n = extractors.length;
    const cells: (string | undefined)[] = new Array(n);
    let problems: RowProblem[] | undefined;
    for (let i = 0; i < n; i++) {
      const r = extractors[i]!(event, raw, meta, exact);
      if (r instanceof Refusal) {
        problems ??= [];
        problems.push({ column: this.columns[i]!.name, message: r.message });
      } else cells[i] = r;
    }
    if (problems) return { ok: false, problems };
    if (!this.dedupKey) return { ok: true, cells };
    return { ok: true, cells, key: this.dedupKey.fromCells(this.keyIndexes.map((i) => cells[i]!)) };
  }
}

/** Compiles the parser of a data source; throws a TallyError naming columns it cannot fill. */
export function compileRowParser(ds: DataSource, opts?: RowParserOptions): RowParser {
  return new RowParser(ds, opts);
}

// ---------------------------------------------------------------------------------------------

/** A version's mapping of one column, with the version it belongs to (for messages). */
type VersionedMapping = ColumnMapping & { version: string };

function compileColumn(
  col: Column,
  kafka: boolean,
  mapping: VersionedMapping | undefined,
  server: ServerLimits | undefined,
): Extractor {
  if (!mapping && !col.json && METADATA.has(col.name) && kafka) return metadataExtractor(col.name);
  const t = compileType(col.type, server);
  // A version's `default` replaces the column's default (value or expression) for that version.
  const ownDefault = mapping !== undefined && 'defaultValue' in mapping;
  const defaultValue = ownDefault ? mapping.defaultValue : col.defaultValue;
  const literal = defaultValue !== undefined ? literalDefault(col, t, defaultValue) : undefined;
  const hasExpr = !ownDefault && col.default !== undefined && col.defaultValue === undefined;
  // Missing (or null in a non-Nullable column): the plain default, else ClickHouse's expression,
  // else NULL for Nullable, else a problem.
  const absent = (present: boolean): string | undefined | Refusal => {
    if (literal !== undefined) return literal;
    if (hasExpr) return undefined;
    if (t.nullable) return 'null';
    return present ? nullRefusal : missingRefusal;
  };
  const json = mapping?.json ?? col.json;
  const where = mapping ? `version ${mapping.version} reads ${json?.text ?? 'no field'}: ` : '';
  const nullRefusal = new Refusal(
    `${where}null is not allowed: the column is not Nullable and has no default`,
  );
  const missingRefusal = new Refusal(`${where}missing, and the column has no default and is not Nullable`);
  const path = json?.segments;
  if (!path) return () => absent(false);
  if (path.length === 0) return (_e, raw) => JSON.stringify(raw);
  const coerce = mapping?.shift === undefined ? t.coerce : shifting(t.coerce, mapping, json.text);
  const exactKey =
    mapping?.shift !== undefined || needsExactDigits(col.type.text) ? exactKeyPattern(path) : undefined;
  return (event, raw, _meta, exact) => {
    const v = lookup(event, path);
    if (v instanceof Refusal) return v;
    if (v === undefined) return absent(false);
    if (v === null) return t.nullable ? 'null' : absent(true);
    if (exactKey !== undefined && typeof v === 'number') return coerce(rawNumber(raw, exactKey, v));
    if (exactKey !== undefined && !exact && typeof v === 'object' && !(v instanceof ExactNumber))
      throw NEEDS_EXACT;
    return coerce(v);
  };
}

/**
 * A coercer that first moves the decimal point of the value read (`shift`), on its digits; a
 * refusal then names the version and the value as the event had it.
 */
function shifting(coerce: (v: JsonValue) => string | Refusal, m: VersionedMapping, field: string) {
  const shift = m.shift!;
  return (v: JsonValue): string | Refusal => {
    const text =
      v instanceof ExactNumber
        ? v.text
        : typeof v === 'string' && JSON_NUMBER.test(v)
          ? v
          : typeof v === 'number'
            ? String(v)
            : undefined;
    const moved = text === undefined ? undefined : shiftDecimal(text, shift);
    const r = coerce(moved === undefined ? v : new ExactNumber(moved));
    if (!(r instanceof Refusal)) return r;
    const value = text === undefined ? describe(v) : numberShown(text);
    return new Refusal(
      `version ${m.version} (${field} = ${value}, shift ${shift}${moved !== undefined ? ` -> ${moved}` : ''}): ${r.message}`,
    );
  };
}

/** A row whose nesting overflowed the stack while it was read: refused, never thrown. */
function tooDeep(): ParsedRow {
  return { ok: false, problems: [{ message: 'the event is nested too deeply to read' }] };
}

/** Thrown when a value needs the exact reader (see RowParser.parse). */
const NEEDS_EXACT = new Error('needs the exact JSON reader');
/** A key JSON could also write with an escape other than `\u` (quote, backslash, slash, control). */
const ESCAPABLE = /["\\/\u0000-\u001f]/;

/** `"key"` for a path ending in a key the fast path can find; '' (never found) otherwise. */
function exactKeyPattern(path: readonly (string | number)[]): string {
  const last = path[path.length - 1];
  return typeof last === 'string' && !ESCAPABLE.test(last) ? JSON.stringify(last) : '';
}

/**
 * The source text of a number JSON.parse gave as `v`: found when `"key"` occurs exactly once in
 * the event (so it is this member, whatever the spaces around its colon) and the number after it
 * has the same value. An event with a `\u` escape may spell this key, or another, differently
 * (`"am\u006funt"`), so it is read again exactly, as is every other case.
 */
function rawNumber(raw: string, pattern: string, v: number): ExactNumber {
  const at = pattern === '' ? -1 : raw.indexOf(pattern);
  if (at >= 0 && raw.indexOf(pattern, at + 1) < 0 && !raw.includes('\\u')) {
    const text = numberAfterColon(raw, at + pattern.length);
    if (text !== undefined && Number(text) === v) return new ExactNumber(text);
  }
  throw NEEDS_EXACT;
}

/**
 * The JSON number text after `: ` at `from` (spaces allowed around the colon), read by hand: no
 * regex match array per value. JSON.parse has checked the event, so the member's value there is
 * well formed; a value that is not a number gives text whose Number differs from the value.
 */
function numberAfterColon(raw: string, from: number): string | undefined {
  let i = from;
  while (isJsonSpace(raw.charCodeAt(i))) i++;
  if (raw.charCodeAt(i) !== 58) return undefined; // ':'
  i++;
  while (isJsonSpace(raw.charCodeAt(i))) i++;
  const start = i;
  for (
    let c = raw.charCodeAt(i);
    (c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69;
  ) {
    c = raw.charCodeAt(++i); // digits, '-', '+', '.', 'e', 'E'
  }
  return i > start ? raw.slice(start, i) : undefined;
}

function isJsonSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

function metadataExtractor(name: string): Extractor {
  switch (name) {
    case '__topic':
      return (_e, _r, m) => JSON.stringify(m?.topic ?? '');
    case '__partition':
      return (_e, _r, m) => String(m?.partition ?? -1);
    case '__offset':
      return (_e, _r, m) => String(m?.offset ?? -1);
    case '__timestamp':
      return (_e, _r, m) => String(Math.floor((m?.timestamp ?? Date.now()) / 1000));
    case '__key':
      return (_e, _r, m) => JSON.stringify(m?.key ?? '');
    default:
      return (_e, _r, m) => JSON.stringify(m?.headers ?? '{}');
  }
}

function literalDefault(col: Column, t: CompiledType, value: unknown): string {
  const v = value as JsonValue;
  if (v === null) return 'null';
  const r = t.coerce(v);
  if (r instanceof Refusal) {
    throw new TallyError(
      'invalid-default',
      `default of column \`${col.name}\` does not fit ${col.type.text}: ${r.message}`,
      {
        location: col.loc,
      },
    );
  }
  return r;
}

/** Types whose values lose digits through a double (DateTime64: a fraction of a current epoch). */
function needsExactDigits(typeText: string): boolean {
  return /Decimal|Int64|Int128|Int256|DateTime64/.test(typeText);
}

function malformed(raw: string): string {
  if (raw.trim() === '') return 'malformed JSON: the event is empty';
  try {
    parseJsonExact(raw);
    return 'malformed JSON';
  } catch (err) {
    return `malformed JSON: ${err instanceof JsonSyntaxError ? err.message : String(err)}`;
  }
}
