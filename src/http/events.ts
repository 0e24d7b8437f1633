import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import { FareEventInput, parseFareEvent, type FareEvent } from '../events/fare-event.js';
import { AppError, type Issue } from '../errors.js';
import { requireScope } from './auth.js';
import type { App, AppDeps } from './context.js';
import { errorResponses, zodIssues } from './envelope.js';
import { jsonResponse, nodeRequest, requestHeader } from './headers.js';

/** The most events one request may carry. */
export const MAX_EVENTS_PER_REQUEST = 10_000;
/** The largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** The longest `?wait=true` holds a response. */
export const WAIT_TIMEOUT_MS = 30_000;
const MAX_ISSUES = 100;
/**
 * The deepest nesting of arrays and objects a body may have. An event needs 3 (array,
 * event, flightNumbers); JSON.parse of a million nested arrays blocks the process for seconds.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * True when `text` nests arrays or objects deeper than `max`, brackets inside strings
 * not counted. Linear and allocation-free: it runs before JSON.parse so that a small
 * body of nested brackets cannot block the event loop. NDJSON lines reset the depth.
 */
export function exceedsJsonDepth(text: string, max: number, linesAreDocuments = false): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Jump to the closing quote: one preceded by an even number of backslashes.
      for (;;) {
        i = text.indexOf('"', i + 1);
        if (i < 0) return false;
        let slashes = 0;
        while (text.charCodeAt(i - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x0a && linesAreDocuments) depth = 0;
  }
  return false;
}

function tooDeep(): never {
  throw new AppError('invalid_request', `the body nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels`);
}

// zod's own .meta(), not .openapi(): the schema may be built before @hono/zod-openapi
// extends zod (when a caller imports the event module first), and .meta() works either way.
export const FareEventSchema = FareEventInput.meta({
  id: 'FareEvent',
  example: {
    origin: 'BCN',
    destination: 'BUD',
    departureDate: '2016-04-20',
    observedAt: '2016-04-01T09:00:00Z',
    price: 69.99,
    currency: 'EUR',
    carrier: 'W6',
    flightNumbers: ['2376'],
  },
});

export const IngestResponse = z
  .object({
    accepted: z.number().int().openapi({ description: 'Events stored by this request.' }),
    duplicates: z.number().int().openapi({ description: 'Events already stored with the same content.' }),
    pending: z
      .number()
      .int()
      .optional()
      .openapi({ description: 'With ?wait=true: derived work still unfinished when the wait ended.' }),
  })
  .openapi('IngestResponse');

/** Splits a body into raw items: one object, a JSON array, or NDJSON lines. */
function parseItems(text: string, contentType: string): { items: unknown[]; issues: Issue[] } {
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (type === 'application/x-ndjson' || type === 'application/jsonl') {
    const items: unknown[] = [];
    const issues: Issue[] = [];
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    if (lines.length > MAX_EVENTS_PER_REQUEST) tooMany(lines.length);
    if (exceedsJsonDepth(text, MAX_JSON_DEPTH, true)) tooDeep();
    lines.forEach((line, index) => {
      try {
        items.push(JSON.parse(line));
      } catch {
        items.push(undefined);
        issues.push({ index, path: '', message: 'line is not valid JSON' });
      }
    });
    return { items, issues };
  }
  if (type !== 'application/json') {
    throw new AppError('unsupported_media_type', 'send application/json (one event or an array) or application/x-ndjson');
  }
  if (exceedsJsonDepth(text, MAX_JSON_DEPTH)) tooDeep();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AppError('invalid_request', 'the body is not valid JSON');
  }
  if (Array.isArray(body)) return { items: body, issues: [] };
  if (body !== null && typeof body === 'object') return { items: [body], issues: [] };
  throw new AppError('invalid_request', 'the body must be a fare event object or an array of them');
}

function tooLargeError(): AppError {
  return new AppError('payload_too_large', `the body exceeds ${MAX_BODY_BYTES / 1024 / 1024} MB`);
}

function tooLarge(): never {
  throw tooLargeError();
}

const utf8 = new TextDecoder();

/**
 * The request body as text, refused past {@link MAX_BODY_BYTES} whether or not a
 * Content-Length announced it. Read straight from the Node request when there is one:
 * a Fetch Request, its abort signal and its web stream cost more than the parsing of a
 * small body. Decoded as UTF-8 like Request.text() (a BOM dropped, bad bytes replaced).
 */
async function readBody(c: Context): Promise<string> {
  if (Number(requestHeader(c, 'content-length')) > MAX_BODY_BYTES) tooLarge();
  const incoming = nodeRequest(c);
  const bytes = incoming ? await readNodeBody(incoming) : await readStreamBody(c.req.raw.body);
  return utf8.decode(bytes);
}

/**
 * A Node request's body through its 'data' events: an async iterator over the request
 * allocated about 1.7 KB of promises and closures per single-event POST (sampled under
 * the benchmark's single-event load), more than the body itself.
 */
export function readNodeBody(incoming: Pick<IncomingMessage, 'on' | 'off' | 'resume' | 'readableEnded' | 'destroyed'>): Promise<Uint8Array> {
  // Events that already happened would never come: settle now.
  if (incoming.readableEnded) return Promise.resolve(new Uint8Array(0));
  if (incoming.destroyed) return Promise.reject(new Error('the request was aborted before its body ended'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error?: Error) => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      // The rest of the body is read and dropped, so the 413 reaches the client; the server's
      // request timeout bounds how long a client may go on sending.
      settle(tooLargeError());
      incoming.resume();
    };
    const onEnd = () => settle();
    const onError = (error: Error) => settle(error);
    const onClose = () => settle(new Error('the request was aborted before its body ended'));
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}

/** A Fetch request's body (under app.request() in tests and other runtimes). */
async function readStreamBody(body: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Web streams are async iterable in Node; the DOM typings do not say so.
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) tooLarge();
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}

function tooMany(count: number): never {
  throw new AppError('payload_too_large', `a request may carry at most ${MAX_EVENTS_PER_REQUEST.toLocaleString('en')} events; it had ${count.toLocaleString('en')}`);
}

/** Validates every item; returns the events, or throws a 400 listing the issues. */
export function validateItems(items: unknown[], earlier: Issue[] = []): FareEvent[] {
  if (items.length === 0) throw new AppError('invalid_request', 'the request holds no events');
  if (items.length > MAX_EVENTS_PER_REQUEST) tooMany(items.length);
  const issues = [...earlier];
  const failed = new Set(earlier.map((i) => i.index));
  const events: FareEvent[] = [];
  items.forEach((item, index) => {
    if (failed.has(index)) return;
    const result = parseFareEvent(item);
    if (result.success) events.push(result.data);
    else if (issues.length < MAX_ISSUES) issues.push(...zodIssues(result.error, index));
    else issues.push({ index, path: '', message: 'invalid' });
  });
  if (issues.length > 0) {
    const badItems = new Set(issues.map((i) => i.index)).size;
    throw new AppError('invalid_request', `${badItems} of ${items.length} events are invalid; nothing was stored`, {
      issues: issues.slice(0, MAX_ISSUES),
    });
  }
  return events;
}

export function registerEvents(app: App, deps: AppDeps): void {
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/events',
    tags: ['Events'],
    summary: 'Send fare events',
    description:
      'One event, a JSON array, or NDJSON; at most 10,000 events and 10 MB. Atomic: one invalid event rejects the whole request. With ?wait=true the response waits (up to 30 s) until every function these events trigger has finished.',
    security: [{ bearerAuth: [] }],
    request: {
      query: z.object({ wait: z.enum(['true', 'false']).optional() }),
      body: {
        required: true,
        content: {
          'application/json': { schema: z.union([FareEventSchema, z.array(FareEventSchema)]) },
          'application/x-ndjson': { schema: z.string().openapi({ description: 'One FareEvent per line.' }) },
        },
      },
    },
    responses: {
      202: { description: 'Stored and queued.', content: { 'application/json': { schema: IngestResponse } } },
      ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503),
    },
  });

  app.post(
    '/v1/events',
    requireScope('write', deps.auth),
    async (c) => {
      const wait = c.req.query('wait');
      if (wait !== undefined && wait !== 'true' && wait !== 'false') {
        throw new AppError('invalid_request', 'wait must be true or false', { issues: [{ index: 0, path: 'wait', message: 'must be true or false' }] });
      }
      const text = await readBody(c);
      const { items, issues } = parseItems(text, requestHeader(c, 'content-type') ?? '');
      const events = validateItems(items, issues);
      const result = await deps.ingest.submit(events);
      deps.runtime.notify();
      if (wait === 'true') {
        const { pending } = await deps.runtime.waitFor(result.maxSeq, WAIT_TIMEOUT_MS);
        return jsonResponse(c, { accepted: result.accepted, duplicates: result.duplicates, pending }, 202);
      }
      return jsonResponse(c, { accepted: result.accepted, duplicates: result.duplicates }, 202);
    },
  );
}
