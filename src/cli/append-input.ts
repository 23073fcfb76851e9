/**
 * Rows for `tally append`, from NDJSON or CSV text, as JSON event texts with the line each
 * started on (so a refused row can be named by line). CSV rows become JSON objects keyed by the
 * data source's JSON paths, so they go through the same row parser as any event.
 */
import { formatLocation, TallyError } from '../errors.ts';
import type { Column, DataSource } from '../project/model.ts';
import { isAggregateState } from '../project/parse-type.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { withoutBom } from '../util/without-bom.ts';

export interface InputEvent {
  /** 1-based line of the file where the row starts. */
  line: number;
  /** The event as JSON text. */
  text: string;
  /** Why the row cannot be read as an event at all (a CSV row with too many cells). */
  error?: string;
}

export type InputFormat = 'ndjson' | 'csv';

/** One event per non-empty line. */
export function ndjsonEvents(text: string): InputEvent[] {
  const out: InputEvent[] = [];
  const lines = withoutBom(text).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() !== '') out.push({ line: i + 1, text: line });
  }
  return out;
}

/**
 * CSV with a header row (RFC 4180: `"` quotes, `""` inside quotes, newlines inside quotes). Each
 * header names a column (or the column's JSON path: `$.a.b` or `a.b`), or, for versioned events,
 * the version field or a path a version maps (`version`, `amount_cents`). An empty unquoted cell is
 * absent, so the column's default applies (NULL for a Nullable column); `""` is an empty string.
 * Bool cells take true/false/1/0; Array cells are JSON (`[1,2]`); other cells stay text, which the
 * row parser reads as the column's type.
 */
export function csvEvents(text: string, ds: DataSource, file: string): InputEvent[] {
  const records = parseCsv(text, file);
  const header = records.shift();
  if (!header) return [];
  const candidates = csvTargets(ds);
  const targets = header.cells.map((h, i) => {
    const name = h.value.trim();
    const target = candidates.find((t) => t.name === name || t.path === name || t.path === `$.${name}`);
    if (!target) {
      const where = `${file}:${header.line}: CSV column ${i + 1} \`${name}\``;
      const unread = ds.columns.find(
        (c) => c.name === name && !c.json && (c.default !== undefined || isAggregateState(c.type)),
      );
      if (unread) throw notReadFromEvents(where, ds, unread);
      const known = ds.columns.filter((c) => c.json).map((c) => c.name);
      throw new TallyError(
        'unknown-column',
        `${where} is not a column of \`${ds.name}\`${didYouMean(name, known)}`,
        { hint: `the header names columns: ${known.join(', ')}` },
      );
    }
    return target;
  });
  targets.forEach((t, i) => {
    const first = targets.indexOf(t);
    if (first !== i) {
      // Both cells would fill one column, the last one silently winning.
      throw new TallyError(
        'invalid-csv',
        `${file}:${header.line}: CSV columns ${first + 1} and ${i + 1} both fill \`${t.name ?? t.path}\``,
        { hint: 'keep one of them in the header' },
      );
    }
  });
  const out: InputEvent[] = [];
  for (const r of records) {
    if (r.cells.length === 1 && r.cells[0]!.value === '' && !r.cells[0]!.quoted) continue; // a blank line
    if (r.cells.length > targets.length) {
      out.push({
        line: r.line,
        text: '',
        error: `${r.cells.length} cells for ${targets.length} header columns`,
      });
      continue;
    }
    const event: Record<string, unknown> = {};
    r.cells.forEach((cell, i) => {
      if (cell.value === '' && !cell.quoted) return;
      const t = targets[i]!;
      setPath(event, t.segments, t.column ? cellValue(cell.value, t.column) : cell.value);
    });
    out.push({ line: r.line, text: JSON.stringify(event) });
  }
  return out;
}

/**
 * A header naming a column that events do not fill: "not a column" (with a list that leaves it
 * out) would contradict the data source file, so say why it is not read and what would read it.
 */
function notReadFromEvents(where: string, ds: DataSource, col: Column): TallyError {
  const at = formatLocation(col.loc);
  if (isAggregateState(col.type)) {
    return new TallyError(
      'column-not-read',
      `${where} is column \`${col.name}\` of \`${ds.name}\`, which holds aggregate states: materialized pipes fill it, events cannot`,
      { hint: `leave ${col.name} out of the header` },
    );
  }
  if (col.defaultValue === undefined) {
    return new TallyError(
      'column-not-read',
      `${where} is column \`${col.name}\` of \`${ds.name}\`, which is not read from events: it is computed by default_expr (${col.default})`,
      {
        hint: `leave ${col.name} out of the header, or give the column json: $.${col.name} (${at}) to read it`,
      },
    );
  }
  return new TallyError(
    'column-not-read',
    `${where} is column \`${col.name}\` of \`${ds.name}\`, which is not read from events: it has a default (${col.default}) and no json, so every row gets the default`,
    {
      hint: `write json: $.${col.name} on the column (${at}) to read the field and fall back to the default, or leave ${col.name} out of the header`,
    },
  );
}

/** Where a CSV header can put its cells: a column's path, the version field, a version's path. */
interface CsvTarget {
  /** A column name a header may use instead of the path. */
  name?: string;
  path: string;
  segments: readonly (string | number)[];
  /** The column whose type reads the cell; none for the version (kept as text). */
  column?: Column;
}

function csvTargets(ds: DataSource): CsvTarget[] {
  const out: CsvTarget[] = [];
  for (const c of ds.columns) {
    if (c.json) out.push({ name: c.name, path: c.json.text, segments: c.json.segments, column: c });
  }
  const v = ds.versions;
  if (v) {
    out.push({ path: v.field.text, segments: v.field.segments });
    // A version's own paths (e.g. v1's `amount_cents`), read as the column they fill.
    for (const m of v.mappings) {
      for (const cm of m.columns) {
        if (cm.json) {
          const column = ds.columns.find((c) => c.name === cm.column);
          out.push({ path: cm.json.text, segments: cm.json.segments, ...(column ? { column } : {}) });
        }
      }
    }
  }
  return out;
}

function cellValue(v: string, col: Column): unknown {
  const inner = unwrap(col.type.name === 'Nullable' ? col.type.args[0] : col.type);
  if (inner === 'Bool') {
    if (/^(true|1)$/i.test(v)) return true;
    if (/^(false|0)$/i.test(v)) return false;
    return v;
  }
  if (inner === 'Array' || inner === 'Tuple' || inner === 'Map') {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

function unwrap(
  arg: DataSource['columns'][number]['type']['args'][number] | Column['type'] | undefined,
): string {
  if (!arg) return '';
  if ('kind' in arg) return arg.kind === 'type' ? unwrap(arg.type) : '';
  if (arg.name === 'LowCardinality') return unwrap(arg.args[0]);
  return arg.name;
}

function setPath(target: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  if (path.length === 0) return;
  let o: Record<string | number, unknown> = target;
  for (let i = 0; i < path.length - 1; i++) {
    const seg = path[i]!;
    const next = o[seg];
    if (next === null || typeof next !== 'object') {
      const fresh = (typeof path[i + 1] === 'number' ? [] : {}) as Record<string | number, unknown>;
      o[seg] = fresh as unknown;
      o = fresh;
    } else o = next as Record<string | number, unknown>;
  }
  o[path[path.length - 1]!] = value;
}

interface CsvCell {
  value: string;
  quoted: boolean;
}

interface CsvRecord {
  line: number;
  cells: CsvCell[];
}

/** RFC 4180 records, each with the line it starts on. */
export function parseCsv(raw: string, file?: string): CsvRecord[] {
  const text = withoutBom(raw);
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const start = line;
    const cells: CsvCell[] = [];
    for (;;) {
      let value = '';
      let quoted = false;
      if (text[i] === '"') {
        quoted = true;
        i++;
        for (;;) {
          if (i >= n) {
            const at = file === undefined ? `line ${start}` : `${file}:${start}`;
            throw new TallyError('invalid-csv', `${at}: a quoted cell is not closed`);
          }
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          value += c;
          i++;
        }
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') i++; // junk after a quote
      } else {
        const from = i;
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') i++;
        value = text.slice(from, i);
      }
      cells.push({ value, quoted });
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    records.push({ line: start, cells });
  }
  return records;
}
