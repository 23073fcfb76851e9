import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EndpointResponder } from './endpoint-responder.ts';
import { errorAnswer, type PlainAnswer } from './http-error.ts';
import { type RequestQuery, readQuery } from './read-query.ts';
import { incomingHeader, type RequestTracker } from './request-tracker.ts';

/** Takes a request it serves (true) or leaves it to the next handler (false). */
export type DirectHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

const PREFIX = '/v0/pipes/';
/** An endpoint name and a format, nothing else (names are letters, digits and `_`). */
const FILE = /^[A-Za-z0-9_]+\.[A-Za-z0-9]+$/;

/** The last Host header found good: clients send the same one on every request. */
let goodHost: string | undefined;

/**
 * Whether hono would take this Host header (it answers 400 for one that a URL would rewrite,
 * such as `x/y` or `127.1`): a request with such a host is left to hono, so both paths refuse it.
 * So is a request without one (hono puts in the address the server is bound to, which it
 * refuses when that is an IPv6 literal): rare, and hono's to answer.
 */
function honoAcceptsHost(host: string | undefined): boolean {
  if (!host) return false;
  if (host === goodHost) return true;
  let hostname: string;
  try {
    hostname = new URL(`http://${host}/`).hostname;
  } catch {
    return false;
  }
  if (hostname.length !== host.length && hostname !== host.replace(/:\d+$/, '')) return false;
  goodHost = host;
  return true;
}

/**
 * Endpoint GETs served straight from node's request and response, without hono building a
 * fetch Request, a Context and a Response for each: on a cache hit those were most of a
 * request's CPU (bench/endpoints.ts). The same EndpointResponder and RequestTracker as the hono
 * route, so answers, errors, metrics and log lines are the same; anything else (POST, a path
 * hono would decode or route elsewhere) is left to hono.
 */
export function directEndpointRoute(
  responder: EndpointResponder,
  requests: RequestTracker,
  unexpected: (err: unknown, id: string) => void,
): DirectHandler {
  return (req, res) => {
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !url.startsWith(PREFIX)) return false;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const file = path.slice(PREFIX.length);
    // Only `<name>.<format>`: anything hono would decode, normalise (`..`) or refuse is its own.
    if (!FILE.test(file) || url.includes('#')) return false;
    if (!honoAcceptsHost(req.headers.host)) return false;
    void serve(req, res, path, file, readQuery(url));
    return true;
  };

  async function serve(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    file: string,
    { query, repeated }: RequestQuery,
  ): Promise<void> {
    const note = requests.begin(incomingHeader(req, 'x-request-id'));
    let answer: PlainAnswer;
    try {
      answer = await responder.answer(
        {
          method: 'GET',
          file,
          query,
          repeated,
          authorization: incomingHeader(req, 'authorization'),
        },
        note,
      );
    } catch (err) {
      requests.failed(note, err);
      answer = errorAnswer(err, (e) => unexpected(e, note.id));
    }
    try {
      if (!res.destroyed) {
        requests.stamp(note, answer);
        answer.headers['content-length'] = String(answer.bytes ?? Buffer.byteLength(answer.body));
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      }
    } catch (err) {
      // The answer could not be written (a header node refuses): the connection cannot be trusted.
      unexpected(err, note.id);
      res.destroy();
      answer = { status: 500, headers: {}, body: '' };
    }
    try {
      requests.end(note, 'GET', path, answer.status);
    } catch (err) {
      unexpected(err, note.id);
    }
  }
}
