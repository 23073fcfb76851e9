import { getQueryParam, getQueryParams } from 'hono/utils/url';

/** A request's query-string params, read once for both routes. */
export interface RequestQuery {
  /** The value of each name. */
  query: Record<string, string>;
  /**
   * The first name given more than once (`?plan=free&plan=pro`): only one value would be read and
   * the others never checked, so the responder refuses it (an Array param takes its items
   * comma-separated in one value).
   */
  repeated?: string;
}

/** What hono's reader would decode or cut at (`#` never reaches a server, but a test may send it). */
const ENCODED = /[%+#]/;

export function readQuery(url: string): RequestQuery {
  const q = url.indexOf('?');
  if (q < 0) return { query: {} };
  if (url.indexOf('&', q) < 0) {
    // One `name=value` with nothing to decode, the usual request: sliced where hono's reader
    // would cut it (its parse costs ~0.6 µs, a tenth of a cached answer's CPU). A test holds the
    // two equal.
    const eq = url.indexOf('=', q);
    if (eq > q + 1 && !ENCODED.test(url)) return { query: { [url.slice(q + 1, eq)]: url.slice(eq + 1) } };
    // One pair at most: nothing can repeat, the single-value reader does.
    return { query: getQueryParam(url) as Record<string, string> };
  }
  const all = getQueryParams(url) as Record<string, string[]>;
  const query: Record<string, string> = {};
  let repeated: string | undefined;
  for (const name in all) {
    const values = all[name]!;
    query[name] = values[0]!;
    if (values.length > 1) repeated ??= name;
  }
  return repeated === undefined ? { query } : { query, repeated };
}
