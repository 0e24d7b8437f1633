import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { IncomingMessage } from 'node:http';
import type { AppEnv } from './context.js';

/**
 * The security headers every response carries: those of hono's `secureHeaders()` with its
 * defaults (test/security compares them with it), as one object built once.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=15552000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
});

const SECURITY_ENTRIES = Object.entries(SECURITY_HEADERS);
const REQUEST_ID_HEADER = 'x-request-id';
const MAX_REQUEST_ID_LENGTH = 255;
const REQUEST_ID_CHARS = /^[\w\-=]+$/;
// Forecasts change with every fare event: a client may keep one, but asks again before using it.
const REVALIDATE = 'no-cache';

/** Responses built with every header already on them, which the middleware leaves as they are. */
const completeResponses = new WeakSet<Response>();

/** The Node request behind a request served by @hono/node-server; undefined under app.request() in tests. */
export function nodeRequest(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/**
 * A request header (`name` in lower case), read from the Node request when there is one,
 * so that no Headers object is built for it; from the Fetch request otherwise.
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = nodeRequest(c);
  if (incoming?.headers) {
    const value = incoming.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }
  return c.req.header(name);
}

/**
 * Gives every request an id (the client's X-Request-Id when it is up to 255 word
 * characters, `-` or `=`, else a new UUID) and every response the security headers
 * and X-Request-Id, without X-Powered-By: what hono's `requestId()` and `secureHeaders()`
 * do, in one step, and nothing at all for a response made by {@link completeJsonResponse}.
 */
export function responseHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const presented = requestHeader(c, REQUEST_ID_HEADER);
    const id = presented && presented.length <= MAX_REQUEST_ID_LENGTH && REQUEST_ID_CHARS.test(presented) ? presented : randomUUID();
    c.set('requestId', id);
    await next();
    const res = c.res;
    if (completeResponses.has(res)) return;
    const headers = res.headers;
    headers.set(REQUEST_ID_HEADER, id);
    for (const [name, value] of SECURITY_ENTRIES) headers.set(name, value);
    headers.delete('x-powered-by');
  };
}

/**
 * Adds what every complete response carries to `headers`: the request id, the security headers
 * and, with a tag, the caching ones. One object per response: this is on every forecast read.
 */
function withCompleteHeaders(c: Context<AppEnv>, headers: Record<string, string>, etag: string | undefined): Record<string, string> {
  headers[REQUEST_ID_HEADER] = c.get('requestId');
  Object.assign(headers, SECURITY_HEADERS);
  if (etag !== undefined) {
    headers.etag = etag;
    headers['cache-control'] = REVALIDATE;
  }
  return headers;
}

function markComplete(res: Response): Response {
  completeResponses.add(res);
  return res;
}

/** What {@link completeJsonResponse} answers besides its body. */
export interface CompleteResponseOptions {
  /** Default 200. */
  status?: number;
  /** A strong entity tag: adds `ETag` and `Cache-Control: no-cache`. */
  etag?: string;
  /** Default `application/json; charset=UTF-8`. */
  contentType?: string;
}

/**
 * A JSON response with all its headers (content type and length, the security headers
 * and the request id) in one plain object, which the Node adapter writes as they are, with
 * the body's bytes as they are: no Headers object is built or filled. With an entity tag it
 * carries `ETag` and `Cache-Control: no-cache` too: a client may keep the body but asks
 * again, with `If-None-Match`, before using it.
 */
export function completeJsonResponse(
  c: Context<AppEnv>,
  body: Uint8Array<ArrayBuffer> | string,
  { status = 200, etag, contentType = 'application/json; charset=UTF-8' }: CompleteResponseOptions = {},
): Response {
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  const headers = withCompleteHeaders(c, { 'content-type': contentType, 'content-length': String(length) }, etag);
  return markComplete(new Response(body, { status, headers }));
}

/** What `c.json(value, status)` answers, as a {@link completeJsonResponse}: for hot routes, where filling a Headers object shows. */
export function jsonResponse(c: Context<AppEnv>, value: unknown, status: number): Response {
  return completeJsonResponse(c, JSON.stringify(value), { status, contentType: 'application/json' });
}

/** A 304 answer for a representation the client holds: no body, the same validator and caching headers. */
export function notModifiedResponse(c: Context<AppEnv>, etag: string): Response {
  return markComplete(new Response(null, { status: 304, headers: withCompleteHeaders(c, {}, etag) }));
}

/**
 * Whether an `If-None-Match` header names `etag` (RFC 9110, 13.1.2): `*`, or a comma-separated
 * list of entity tags compared weakly (a `W/` prefix on either side is ignored).
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const part of header.split(',')) {
    const tag = part.trim();
    if (tag === '*') return true;
    if ((tag.startsWith('W/') ? tag.slice(2) : tag) === opaque) return true;
  }
  return false;
}
