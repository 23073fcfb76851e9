import http from 'node:http';
import https from 'node:https';

/** What answers at a ClickHouse URL. */
export type ClickHouseProbe =
  | { kind: 'closed' }
  | { kind: 'clickhouse'; version: string }
  /** ClickHouse itself, refusing the query (bad credentials, for example). */
  | { kind: 'clickhouse-error'; message: string }
  /** Something that is not ClickHouse; `detail` says what it answered if HTTP did. */
  | { kind: 'other'; detail?: string };

/** Asks the server at `url` for `SELECT version()` over HTTP. */
export async function probeClickHouse(url: string, timeoutMs = 2000): Promise<ClickHouseProbe> {
  let res: HttpAnswer;
  try {
    res = await clickhouseGet(url, 'SELECT version()', timeoutMs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (
      code === 'ECONNREFUSED' ||
      code === 'EADDRNOTAVAIL' ||
      code === 'ENOTFOUND' ||
      code === 'EHOSTUNREACH'
    ) {
      return { kind: 'closed' };
    }
    return { kind: 'other' };
  }
  const fromClickHouse =
    Object.keys(res.headers).some((h) => h.startsWith('x-clickhouse-')) || /^Code: \d+/.test(res.body);
  if (res.status === 200 && /^\d+\.\d+[\w.-]*\s*$/.test(res.body)) {
    return { kind: 'clickhouse', version: res.body.trim() };
  }
  if (fromClickHouse) return { kind: 'clickhouse-error', message: firstLine(res.body) };
  const server = res.headers.server;
  return {
    kind: 'other',
    detail: `an HTTP server (${res.status}${typeof server === 'string' ? `, Server: ${server}` : ''})`,
  };
}

/** True when the server answers `SELECT 1` with 1. */
export async function clickhouseAnswersSelect1(url: string, timeoutMs = 2000): Promise<boolean> {
  const res = await clickhouseGet(url, 'SELECT 1', timeoutMs);
  return res.status === 200 && res.body.trim() === '1';
}

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function clickhouseGet(url: string, sql: string, timeoutMs: number): Promise<HttpAnswer> {
  const target = new URL(url);
  target.searchParams.set('query', sql);
  const auth =
    target.username || target.password
      ? `${decodeURIComponent(target.username) || 'default'}:${decodeURIComponent(target.password)}`
      : undefined;
  target.username = '';
  target.password = '';
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(target, { timeout: timeoutMs, auth }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 4096) body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
  });
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 300);
}
