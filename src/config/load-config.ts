import { join, resolve } from 'node:path';
import { isMap, isScalar, type Node, type Scalar, visit } from 'yaml';
import { formatLocation, type Problem, type SourceLocation, TallyError } from '../errors.ts';
import { hasCredentials, isHttpUrl } from '../util/is-http-url.ts';
import { readSourceText } from '../yaml/read-source-text.ts';
import { YamlFile } from '../yaml/yaml-file.ts';
import { YamlReader } from '../yaml/yaml-reader.ts';
import type { Config, TokenConfig, TokenScope } from './config.ts';
import { readIngestConfig } from './read-ingest-config.ts';
import { readKafkaSasl, SASL_KEYS } from './read-kafka-sasl.ts';
import { readTlsFiles } from './read-tls-files.ts';

export const CONFIG_FILE = 'tally.yaml';

const TOP_KEYS = ['name', 'description', 'clickhouse', 'kafka', 'server', 'tokens', 'ingest'] as const;
const CLICKHOUSE_KEYS = ['url', 'failover', 'user', 'password', 'database', 'cluster', 'tls'] as const;
const KAFKA_KEYS = ['brokers', 'client_id', 'ssl', 'sasl', 'session_timeout_ms'] as const;
/** The keys of `kafka.ssl` and `clickhouse.tls` as mappings. */
const SSL_KEYS = ['ca_file', 'cert_file', 'key_file'] as const;
const SERVER_KEYS = ['host', 'port'] as const;
const TOKEN_KEYS = ['token', 'scope', 'endpoints', 'datasources'] as const;
const SCOPES: readonly TokenScope[] = ['admin', 'read', 'append'];

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads `<projectDir>/tally.yaml` (optional), interpolates `${ENV}` in its values, applies the
 * TALLY_* environment overrides and the defaults. Problems are collected; any error throws one
 * TallyError listing them all (key and file:line, or the variable).
 */
export function loadConfig(projectDir: string, opts: LoadConfigOptions = {}): Config {
  const problems: Problem[] = [];
  const config = readConfig(projectDir, opts.env ?? process.env, problems);
  const errors = sortProblems(problems.filter((p) => p.severity === 'error'));
  if (errors.length > 0) {
    const line = (p: Problem) => `${p.message}${p.hint ? ` (${p.hint})` : ''}`;
    const only = errors.length === 1 ? errors[0]! : undefined;
    // One problem: its place is the error's location (format() prints it once). Several: each
    // line names its own place.
    throw new TallyError(
      'invalid-config',
      only
        ? line(only)
        : errors.map((p) => `${p.location ? `${formatLocation(p.location)}: ` : ''}${line(p)}`).join('\n'),
      only?.location ? { location: only.location } : {},
    );
  }
  return config;
}

/** Like loadConfig, but returns problems instead of throwing (used by `tally check`). */
export function readConfig(projectDir: string, env: NodeJS.ProcessEnv, problems: Problem[]): Config {
  const dir = resolve(projectDir);
  const file = join(dir, CONFIG_FILE);
  const config: Config = {
    projectDir: dir,
    clickhouse: {
      user: 'default',
      password: '',
      database: 'tally',
      embeddedPath: join(dir, '.tally', 'chdb'),
    },
    kafka: { brokers: ['127.0.0.1:9092'], clientId: 'tally', ssl: false },
    server: { host: '127.0.0.1', port: 7070 },
    tokens: [],
    ingest: {},
  };

  const at: KeyLocations = {};
  // Missing: the defaults apply; not a file, unreadable or not UTF-8: an error, never "no config".
  const text = readSourceText(file, CONFIG_FILE, problems);
  if (text !== undefined) {
    config.file = file;
    const yf = YamlFile.parse(CONFIG_FILE, text, problems);
    const r = new YamlReader(yf, problems);
    if (yf.root) readYaml(r, yf.root, env, config, at);
  }

  applyEnv(env, config, problems, at);
  return config;
}

/** Where tally.yaml sets the keys that checks across keys name (after the environment is applied). */
interface KeyLocations {
  cluster?: SourceLocation;
  failover?: SourceLocation;
  tls?: SourceLocation;
}

function readYaml(r: YamlReader, root: Node, env: NodeJS.ProcessEnv, config: Config, at: KeyLocations): void {
  const top = r.map(root, CONFIG_FILE, TOP_KEYS);
  if (!top) return;
  const str = (node: Node | null | undefined, what: string): string | undefined => {
    if (node === undefined) return undefined; // absent: `require` has reported it when needed
    const s = r.string(node, what);
    if (s === undefined) return undefined;
    const before = r.problems.length;
    const value = interpolate(r, node, s, env);
    return r.problems.length === before ? value : undefined;
  };

  if (top.has('name')) {
    const name = str(top.get('name'), 'name');
    if (name) config.name = name;
  }

  const ch = top.get('clickhouse');
  if (ch !== undefined) {
    const m = r.map(ch, '`clickhouse`', CLICKHOUSE_KEYS);
    if (m) {
      const url = m.has('url') ? str(m.get('url'), 'clickhouse.url') : undefined;
      if (url) config.clickhouse.url = checkUrl(r, m.get('url'), url, 'clickhouse.url');
      if (m.has('failover')) {
        at.failover = r.loc(m.get('failover'));
        const list = r.stringList(m.get('failover'), 'clickhouse.failover');
        if (list) {
          const urls = list.map((u) =>
            checkUrl(r, m.get('failover'), interpolate(r, m.get('failover'), u, env), 'clickhouse.failover'),
          );
          if (urls.every((u) => u !== undefined)) config.clickhouse.failover = urls as string[];
        }
      }
      const user = m.has('user') ? str(m.get('user'), 'clickhouse.user') : undefined;
      if (user !== undefined) config.clickhouse.user = user;
      const password = m.has('password') ? str(m.get('password'), 'clickhouse.password') : undefined;
      if (password !== undefined) config.clickhouse.password = password;
      const db = m.has('database') ? str(m.get('database'), 'clickhouse.database') : undefined;
      if (db !== undefined && checkDatabase(db, (msg) => r.error(m.get('database'), 'invalid-config', msg))) {
        config.clickhouse.database = db;
      }
      if (m.has('tls')) {
        const tls = readTlsFiles(
          r,
          r.map(m.get('tls'), '`clickhouse.tls`', SSL_KEYS),
          str,
          config.projectDir,
          'clickhouse.tls',
          true,
        );
        if (tls?.ca !== undefined) config.clickhouse.tls = { ...tls, ca: tls.ca };
        at.tls = r.loc(m.get('tls'));
      }
      const cluster = m.has('cluster') ? str(m.get('cluster'), 'clickhouse.cluster') : undefined;
      if (cluster) {
        config.clickhouse.cluster = cluster;
        at.cluster = r.loc(m.get('cluster'));
      }
    }
  }

  const kafka = top.get('kafka');
  if (kafka !== undefined) {
    const m = r.map(kafka, '`kafka`', KAFKA_KEYS);
    if (m) {
      if (m.has('brokers')) {
        const list = r.stringList(m.get('brokers'), 'kafka.brokers');
        if (list) {
          const brokers = list.flatMap((b) => splitBrokers(interpolate(r, m.get('brokers'), b, env)));
          const portless = portlessBroker(brokers);
          if (portless !== undefined) {
            r.error(
              m.get('brokers'),
              'invalid-config',
              `kafka broker \`${portless}\` has no port: write host:port (Kafka's default is 9092)`,
            );
          } else if (brokers.length > 0) config.kafka.brokers = brokers;
          else
            r.error(
              m.get('brokers'),
              'invalid-config',
              'kafka.brokers is empty (is its environment variable set?); name at least one host:port, or leave the key out for 127.0.0.1:9092',
            );
        }
      }
      const clientId = m.has('client_id') ? str(m.get('client_id'), 'kafka.client_id') : undefined;
      if (clientId) config.kafka.clientId = clientId;
      if (m.has('ssl')) {
        const node = m.get('ssl');
        if (isMap(node)) {
          const tls = readTlsFiles(
            r,
            r.map(node, '`kafka.ssl`', SSL_KEYS),
            str,
            config.projectDir,
            'kafka.ssl',
          );
          if (tls) config.kafka.ssl = tls;
        } else if (expandEnvIn(r, node, env)) {
          config.kafka.ssl = r.boolean(node, 'kafka.ssl') ?? false;
        }
      }
      if (m.has('session_timeout_ms') && expandEnvIn(r, m.get('session_timeout_ms'), env)) {
        // Kafka brokers accept 6 s to 30 min by default (group.min/max.session.timeout.ms).
        const node = m.get('session_timeout_ms');
        const ms = r.number(node, 'kafka.session_timeout_ms', { integer: true, min: 6000 });
        if (ms !== undefined && ms > 1_800_000)
          r.error(node, 'invalid-config', 'kafka.session_timeout_ms must be at most 1800000 (30 min)');
        else if (ms !== undefined) config.kafka.sessionTimeoutMs = ms;
      }
      if (m.has('sasl')) {
        const s = r.map(m.get('sasl'), '`kafka.sasl`', SASL_KEYS);
        const sasl = s ? readKafkaSasl(r, s, str) : undefined;
        if (sasl) config.kafka.sasl = sasl;
      }
    }
  }

  const server = top.get('server');
  if (server !== undefined) {
    const m = r.map(server, '`server`', SERVER_KEYS);
    if (m) {
      const host = m.has('host') ? str(m.get('host'), 'server.host') : undefined;
      if (host && HOST_PORT.test(host)) {
        r.error(
          m.get('host'),
          'invalid-config',
          `server.host is an address without a port, not \`${host}\``,
          'set the port as server.port',
        );
      } else if (host) config.server.host = host;
      if (m.has('port') && expandEnvIn(r, m.get('port'), env)) {
        const node = m.get('port');
        const port = r.number(node, 'server.port', { integer: true, min: 0, max: 65535 });
        if (port !== undefined) config.server.port = port;
      }
    }
  }

  if (top.has('ingest')) {
    expandEnvIn(r, top.get('ingest'), env);
    config.ingest = readIngestConfig(r, top.get('ingest'));
  }

  const tokens = top.get('tokens');
  if (tokens !== undefined) {
    for (const { name, keyNode, value } of r.namedMap(tokens, '`tokens`')) {
      const m = r.map(value, `token \`${name}\``, TOKEN_KEYS);
      if (!m) continue;
      if (SCOPES.includes(name as TokenScope)) {
        // An endpoint's `token: read` names the scope: a token of that name could never be told apart.
        r.error(
          keyNode,
          'invalid-config',
          `a token cannot be named \`${name}\`, the name of a scope (an endpoint's \`token: ${name}\` means the scope); rename it`,
        );
        continue;
      }
      const tokenValue = str(m.require('token'), `tokens.${name}.token`);
      const scope = str(m.require('scope'), `tokens.${name}.scope`);
      if (scope !== undefined && !SCOPES.includes(scope as TokenScope)) {
        r.error(m.get('scope'), 'invalid-config', `tokens.${name}.scope must be one of ${SCOPES.join(', ')}`);
        continue;
      }
      if (tokenValue === undefined || scope === undefined) continue;
      if (tokenValue === '') {
        r.error(
          m.get('token'),
          'invalid-config',
          `tokens.${name}.token is empty (is its environment variable set?)`,
        );
        continue;
      }
      const twin = config.tokens.find((o) => o.value === tokenValue);
      if (twin) {
        // A request is matched to the first token with its value: this one could never be used.
        r.error(
          m.get('token'),
          'invalid-config',
          `tokens.${name}.token has the same value as tokens.${twin.name}.token: a request carrying it is always taken as \`${twin.name}\`; give each token its own secret`,
        );
        continue;
      }
      const t: TokenConfig = { name, value: tokenValue, scope: scope as TokenScope };
      expandEnvIn(r, m.get('endpoints'), env, { keepText: true });
      expandEnvIn(r, m.get('datasources'), env, { keepText: true });
      if (m.has('endpoints'))
        t.endpoints = r.stringList(m.get('endpoints'), `tokens.${name}.endpoints`) ?? [];
      if (m.has('datasources'))
        t.datasources = r.stringList(m.get('datasources'), `tokens.${name}.datasources`) ?? [];
      config.tokens.push(t);
    }
  }
}

/**
 * `${...}` in a value, or in the values (not the keys) of a map or list, read as numbers,
 * booleans or sizes: each takes the value its expanded text means in YAML (`"${N:-500}"` is the
 * number 500), so the key's own check applies to it; `keepText` keeps the text (lists of names).
 * A value whose variable is missing is reported once and dropped, so no check reports it again
 * (a map's key then keeps its default). False when `node` itself is such a value.
 */
function expandEnvIn(
  r: YamlReader,
  node: Node | null | undefined,
  env: NodeJS.ProcessEnv,
  opts: { keepText?: boolean } = {},
): boolean {
  if (!node) return true;
  if (isScalar(node)) return expandScalar(r, node, env, opts.keepText);
  visit(node, {
    Pair(_key, pair) {
      if (isScalar(pair.value) && !expandScalar(r, pair.value, env, opts.keepText)) return visit.REMOVE;
    },
    Seq(_key, seq) {
      seq.items = seq.items.filter((item) => !isScalar(item) || expandScalar(r, item, env, opts.keepText));
    },
  });
  return true;
}

function expandScalar(r: YamlReader, scalar: Scalar, env: NodeJS.ProcessEnv, keepText = false): boolean {
  if (typeof scalar.value !== 'string' || !scalar.value.includes('${')) return true;
  const before = r.problems.length;
  const text = interpolate(r, scalar, scalar.value, env);
  if (r.problems.length > before) return false;
  scalar.value = keepText ? text : typedText(text);
  return true;
}

/** What YAML's core schema makes of a plain scalar: an integer, a decimal, a boolean, else the text. */
function typedText(text: string): string | number | boolean {
  if (/^[-+]?\d+$/.test(text) || /^[-+]?(\d+\.\d*|\.\d+)$/.test(text)) return Number(text);
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  return text;
}

/** `${NAME}` and `${NAME:-default}` inside a value; a missing variable without default is an error. */
/** `${NAME}` or `${NAME:-default}` in a tally.yaml value. */
const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function interpolate(
  r: YamlReader,
  node: Node | null | undefined,
  value: string,
  env: NodeJS.ProcessEnv,
): string {
  // What no reference matches would be kept as text: `${A:-${B}}`, `${1X}`, an unclosed `${X`.
  const nested = [...value.matchAll(ENV_REFERENCE)].some((m) => m[2]?.includes('${'));
  if (nested || value.replace(ENV_REFERENCE, '').includes('${')) {
    r.error(
      node,
      'invalid-config',
      // Not the value itself: it may be a secret.
      'this value has a `${` that is not a reference Tally reads',
      'write ${NAME} or ${NAME:-default}: a name of letters, digits and _, not starting with a digit; references do not nest',
    );
    return value;
  }
  return value.replace(ENV_REFERENCE, (_m, name: string, fallback?: string) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    r.error(
      node,
      'missing-env',
      `environment variable ${name} is not set`,
      `set ${name}, or write \${${name}:-default}`,
    );
    return '';
  });
}

function applyEnv(env: NodeJS.ProcessEnv, config: Config, problems: Problem[], at: KeyLocations): void {
  const bad = (name: string, message: string) =>
    problems.push({ severity: 'error', code: 'invalid-env', message: `${name}: ${message}` });
  const url = env.TALLY_CLICKHOUSE_URL;
  if (url !== undefined && url !== '') {
    if (!isHttpUrl(url))
      bad('TALLY_CLICKHOUSE_URL', `"${url}" is not an http(s) URL such as http://127.0.0.1:8123`);
    else if (hasCredentials(url))
      bad('TALLY_CLICKHOUSE_URL', `must not carry a user or password: ${CREDENTIALS_HINT}`);
    else config.clickhouse.url = url;
  }
  if (env.TALLY_CLICKHOUSE_USER) config.clickhouse.user = env.TALLY_CLICKHOUSE_USER;
  if (env.TALLY_CLICKHOUSE_PASSWORD !== undefined) config.clickhouse.password = env.TALLY_CLICKHOUSE_PASSWORD;
  const db = env.TALLY_CLICKHOUSE_DATABASE;
  if (db) {
    if (checkDatabase(db, (m) => bad('TALLY_CLICKHOUSE_DATABASE', m))) config.clickhouse.database = db;
  }
  if (env.TALLY_CLICKHOUSE_CLUSTER) {
    config.clickhouse.cluster = env.TALLY_CLICKHOUSE_CLUSTER;
    delete at.cluster;
  }
  const failover = env.TALLY_CLICKHOUSE_FAILOVER;
  if (failover !== undefined && failover !== '') {
    const urls = failover
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean);
    const wrong = urls.find((u) => !isHttpUrl(u));
    if (wrong !== undefined)
      bad('TALLY_CLICKHOUSE_FAILOVER', `"${wrong}" is not an http(s) URL such as http://127.0.0.1:8124`);
    else if (urls.some(hasCredentials))
      bad('TALLY_CLICKHOUSE_FAILOVER', `must not carry a user or password: ${CREDENTIALS_HINT}`);
    else {
      config.clickhouse.failover = urls;
      delete at.failover;
    }
  }
  if (config.clickhouse.failover?.length && !config.clickhouse.cluster) {
    // Only replicas hold the same data: failing over to an unrelated server would split it.
    problems.push({
      severity: 'error',
      code: 'invalid-config',
      ...(at.failover ? { location: at.failover } : {}),
      message:
        'clickhouse.failover needs clickhouse.cluster: Tally fails over only between replicas of one cluster',
      hint: 'set clickhouse.cluster to the cluster the failover URLs are replicas in, or remove clickhouse.failover',
    });
  }
  const plain = [config.clickhouse.url, ...(config.clickhouse.failover ?? [])].find((u) =>
    u?.startsWith('http:'),
  );
  if (config.clickhouse.tls && plain) {
    // Said, not ignored: a CA set for a server reached without TLS protects nothing.
    problems.push({
      severity: 'error',
      code: 'invalid-config',
      ...(at.tls ? { location: at.tls } : {}),
      message: `clickhouse.tls is set but ${plain} is plain http: the connection would not use it`,
      hint: 'use the https:// address of the server (its https_port), or remove clickhouse.tls',
    });
  }
  if (config.clickhouse.cluster && !config.clickhouse.url) {
    // chDB is one process: there is no cluster to run ON CLUSTER DDL on.
    problems.push({
      severity: 'error',
      code: 'invalid-config',
      ...(at.cluster ? { location: at.cluster } : {}),
      message: `clickhouse.cluster (${config.clickhouse.cluster}) needs clickhouse.url: the embedded engine is not a cluster node`,
      hint: 'set clickhouse.url (or TALLY_CLICKHOUSE_URL) to a node of the cluster',
    });
  }
  if (env.TALLY_KAFKA_BROKERS) {
    const brokers = splitBrokers(env.TALLY_KAFKA_BROKERS);
    const portless = portlessBroker(brokers);
    if (portless !== undefined) bad('TALLY_KAFKA_BROKERS', `\`${portless}\` has no port: write host:port`);
    else config.kafka.brokers = brokers;
  }
  if (env.TALLY_HOST) config.server.host = env.TALLY_HOST;
  const port = env.TALLY_PORT;
  if (port !== undefined && port !== '') {
    const n = Number(port);
    if (validPort(n)) config.server.port = n;
    else bad('TALLY_PORT', `"${port}" is not a port number (0-65535)`);
  }
}

/** File order: by file, line, column; problems without a location last. */
export function sortProblems(problems: Problem[]): Problem[] {
  const key = (p: Problem) =>
    p.location ? [p.location.file, p.location.line, p.location.col] : ['\uffff', 0, 0];
  return [...problems].sort((a, b) => {
    const [fa, la, ca] = key(a) as [string, number, number];
    const [fb, lb, cb] = key(b) as [string, number, number];
    return fa < fb ? -1 : fa > fb ? 1 : la - lb || ca - cb;
  });
}

/** `host:port` (an IPv6 address in brackets: `[::1]:9092`). */
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[^:\s]+):\d{1,5}$/;

/** The first broker written without its port (kafkajs needs host:port), if any. */
function portlessBroker(brokers: readonly string[]): string | undefined {
  return brokers.find((b) => !HOST_PORT.test(b));
}

function splitBrokers(s: string): string[] {
  return s
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

/** A TCP port number, 0 (any free port) included: the one rule for TALLY_PORT and `--port`. */
export function validPort(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 65535;
}

const CREDENTIALS_HINT =
  'give them as clickhouse.user and clickhouse.password (or TALLY_CLICKHOUSE_USER and TALLY_CLICKHOUSE_PASSWORD): a URL is shown in messages and /health';

function checkUrl(
  r: YamlReader,
  node: Node | null | undefined,
  url: string,
  key: string,
): string | undefined {
  if (!isHttpUrl(url)) {
    r.error(node, 'invalid-config', `${key}: "${url}" is not an http(s) URL such as http://127.0.0.1:8123`);
    return undefined;
  }
  if (hasCredentials(url)) {
    // Never echoed: the message names the key, not the URL with its secret.
    r.error(node, 'invalid-config', `${key} must not carry a user or password`, CREDENTIALS_HINT);
    return undefined;
  }
  return url;
}

function checkDatabase(db: string, report: (message: string) => void): boolean {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(db)) return true;
  report(`database name "${db}" must be letters, digits and underscores, not starting with a digit`);
  return false;
}
