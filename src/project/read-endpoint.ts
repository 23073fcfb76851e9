import type { Problem } from '../errors.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import type { YamlFile } from '../yaml/yaml-file.ts';
import { YamlReader } from '../yaml/yaml-reader.ts';
import type { Endpoint, EndpointLimits, OutputFormat } from './model.ts';
import { fileLoc, settingsMap, stringItems } from './yaml-values.ts';

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['json', 'csv', 'ndjson'];

const TOP_KEYS = ['pipe', 'description', 'token', 'cache', 'max_staleness', 'limits', 'settings', 'formats'];
const LIMIT_KEYS = ['max_rows', 'max_bytes', 'max_execution_time', 'max_memory_usage'];

/**
 * Reads one `endpoints/<name>.endpoint.yaml`. Whether its pipe and token exist is checked by
 * validateProject, which sees the whole project.
 */
export function readEndpoint(yf: YamlFile, name: string, problems: Problem[]): Endpoint | undefined {
  const r = new YamlReader(yf, problems);
  const top = r.map(yf.root, `endpoint \`${name}\``, TOP_KEYS);
  if (!top) return undefined;
  const pipeNode = top.require('pipe');
  const pipe = pipeNode === undefined ? undefined : r.string(pipeNode, 'pipe (a pipe name)');
  if (pipe === '') {
    // validateProject skips an empty name as already reported: it is, here.
    problems.push({
      severity: 'error',
      code: 'invalid-value',
      message: `endpoint \`${name}\`: pipe is empty; name the pipe it serves`,
      location: r.loc(pipeNode),
    });
  }
  const ep: Endpoint = {
    kind: 'endpoint',
    name,
    file: yf.file,
    loc: fileLoc(yf.file),
    pipe: pipe ?? '',
    limits: {},
    settings: {},
    formats: OUTPUT_FORMATS,
  };
  if (pipeNode) ep.pipeLoc = r.loc(pipeNode);
  if (top.has('description')) {
    const d = r.string(top.get('description'), 'description');
    if (d !== undefined) ep.description = d;
  }
  if (top.has('token')) {
    const t = r.string(top.get('token'), 'token (a scope or a token name)');
    if (t !== undefined) {
      ep.token = t;
      ep.tokenLoc = r.loc(top.get('token'));
    }
  }
  if (top.has('cache')) {
    const ms = r.duration(top.get('cache'), 'cache');
    if (ms !== undefined) ep.cacheMs = ms;
  }
  if (top.has('max_staleness')) {
    const ms = r.duration(top.get('max_staleness'), 'max_staleness');
    // Freshness is measured in whole seconds: 0 would refuse every answer, not lift the limit.
    if (ms !== undefined && ms < 1000) {
      r.error(
        top.get('max_staleness'),
        'invalid-value',
        'max_staleness must be at least 1s (0 would refuse every answer)',
        'omit max_staleness for no limit',
      );
    } else if (ms !== undefined) ep.maxStalenessMs = ms;
  }
  if (top.has('limits')) {
    const m = r.map(top.get('limits'), '`limits`', LIMIT_KEYS);
    if (m) {
      const limits: EndpointLimits = {};
      const int = (key: string) =>
        m.has(key) ? r.number(m.get(key), `limits.${key}`, { integer: true, min: 1 }) : undefined;
      const maxRows = int('max_rows');
      if (maxRows !== undefined) limits.maxRows = maxRows;
      const maxBytes = int('max_bytes');
      if (maxBytes !== undefined) limits.maxBytes = maxBytes;
      const maxMemory = int('max_memory_usage');
      if (maxMemory !== undefined) limits.maxMemoryUsage = maxMemory;
      if (m.has('max_execution_time')) {
        const ms = r.duration(m.get('max_execution_time'), 'limits.max_execution_time');
        if (ms !== undefined) limits.maxExecutionTime = ms / 1000;
      }
      ep.limits = limits;
    }
  }
  if (top.has('settings')) {
    const { values, locs } = settingsMap(r, top.get('settings'), '`settings`', (name) =>
      Object.hasOwn(OWNED_SETTINGS, name) ? OWNED_SETTINGS[name] : undefined,
    );
    ep.settings = values;
    ep.settingsLoc = locs;
  }
  if (top.has('formats')) {
    const items = stringItems(r, top.get('formats'), 'formats');
    if (items) {
      const formats: OutputFormat[] = [];
      for (const item of items) {
        if (!(OUTPUT_FORMATS as readonly string[]).includes(item.value)) {
          r.error(
            item.node,
            'invalid-value',
            `unknown format \`${item.value}\`${didYouMean(item.value, OUTPUT_FORMATS)}`,
            `choose from ${OUTPUT_FORMATS.join(', ')}`,
          );
        } else if (!formats.includes(item.value as OutputFormat)) formats.push(item.value as OutputFormat);
      }
      if (items.length === 0)
        r.error(
          top.get('formats'),
          'invalid-value',
          'formats cannot be empty; omit it to allow json, csv and ndjson',
        );
      ep.formats = formats;
    }
  }
  return ep;
}

/**
 * Settings Tally sets itself on every endpoint query: the read-only guard and the limits (set
 * through `limits`), and the JSON shape every back end must answer in.
 */
export const OWNED_SETTINGS: Readonly<Record<string, string>> = {
  readonly: 'every endpoint query runs read-only',
  max_execution_time: 'use `limits.max_execution_time`',
  max_result_rows: 'use `limits.max_rows`',
  max_result_bytes: 'use `limits.max_bytes`',
  max_memory_usage: 'use `limits.max_memory_usage`',
  result_overflow_mode: 'an endpoint over its limits answers an error, never a cut answer',
  output_format_json_quote_64bit_integers: 'answers have one JSON shape on every back end',
};
