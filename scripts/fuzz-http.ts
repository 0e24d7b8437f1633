/**
 * HTTP fuzz: fires hostile requests at the real service running as a child process and checks
 * that every one gets a 4xx with the error envelope, none a 5xx, that the process stays
 * healthy, and that nothing is stored (only invalid requests are sent).
 *
 *   npm run fuzz:http -- --requests 10000 --seed 42
 */
import Database from 'better-sqlite3';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ERROR_CODES } from '../src/errors.js';
import { FareEventInput, MAX_PRICE } from '../src/events/fare-event.js';
import { exceedsJsonDepth, MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST, MAX_JSON_DEPTH } from '../src/http/events.js';
import { childService, scratchDir } from './lib/child-service.js';
import { prng } from '../src/lib/prng.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    concurrency: { type: 'string', default: '16' },
    keep: { type: 'boolean', default: false },
  },
});
const TARGET = Number(args.requests);
const SEED = Number(args.seed);
const CONCURRENCY = Number(args.concurrency);
if (![TARGET, SEED, CONCURRENCY].every(Number.isInteger) || TARGET < 1 || CONCURRENCY < 1) {
  console.error('usage: fuzz-http [--requests N] [--seed N] [--concurrency N] [--keep]');
  process.exit(2);
}

const random = prng(SEED);
const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

// ---------------------------------------------------------------------------------------------
// Building blocks.

type Event = Record<string, unknown>;
let serial = 0;

/** A valid event, unique per call, so an invalid request can be built from it by one change. */
function validEvent(): Event {
  serial++;
  const event: Event = {
    origin: pick(['BCN', 'LTN', 'WAW', 'BUD', 'VIE']),
    destination: pick(['KTW', 'GDN', 'OTP', 'SOF']),
    departureDate: '2026-06-15',
    observedAt: new Date(Date.UTC(2026, 0, 1) + serial * 60_000).toISOString(),
    price: Math.round((20 + random() * 300) * 100) / 100,
    currency: pick(['EUR', 'GBP', 'PLN']),
  };
  if (random() < 0.3) event.carrier = 'W6';
  if (random() < 0.3) event.flightNumbers = [String(int(100, 9999))];
  if (random() < 0.2) event.id = `fuzz-${SEED}-${serial}`;
  return event;
}

const STRICT_STRING_FIELDS = ['origin', 'destination', 'departureDate', 'observedAt', 'currency', 'carrier'] as const;
const ALL_FIELDS = ['id', 'origin', 'destination', 'departureDate', 'observedAt', 'price', 'currency', 'carrier', 'flightNumbers'];
const REQUIRED_FIELDS = ['origin', 'destination', 'departureDate', 'observedAt', 'price', 'currency'];

/** Characters outside printable ASCII: they can never be part of a valid code, date or currency. */
const HOSTILE_CHARS = [
  '\u0000', '\u0001', '\u0007', '\b', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u00a0', '\u00e9', '\u0130',
  '\u200b', '\u200d', '\u202e', '\u2028', '\u2029', '\ufeff', '\ufffd', '\uffff', '\ud800', '\udfff', '😀', '𝔹',
  'Ｂ', '١', '٢', '\u0301', '\u{e0041}',
];

interface Spec {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | (() => ReadableStream<Uint8Array>);
}

/** What the service would do with this request if it had a bug-free parser: would it store anything? */
function wouldStore(spec: Spec): boolean {
  if (spec.method !== 'POST' || typeof spec.body !== 'string') return false;
  const url = new URL(spec.path, 'http://x');
  if (url.pathname !== '/v1/events') return false;
  const wait = url.searchParams.get('wait');
  if (wait !== null && wait !== 'true' && wait !== 'false') return false;
  const type = (spec.headers?.['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  let items: unknown[];
  if (Buffer.byteLength(spec.body) > MAX_BODY_BYTES) return false;
  // Mirrors the service's guard, and keeps this process from blocking on JSON.parse of deep nesting.
  if (exceedsJsonDepth(spec.body, MAX_JSON_DEPTH, type !== 'application/json')) return false;
  try {
    if (type === 'application/x-ndjson' || type === 'application/jsonl') {
      items = spec.body.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
    } else if (type === 'application/json') {
      const parsed = JSON.parse(spec.body) as unknown;
      items = Array.isArray(parsed) ? parsed : [parsed];
    } else return false;
  } catch {
    return false;
  }
  if (items.length === 0 || items.length > MAX_EVENTS_PER_REQUEST) return false;
  return items.every((item) => FareEventInput.safeParse(item).success);
}

const json = (body: unknown, path = '/v1/events'): Spec => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const raw = (body: string, contentType = 'application/json', path = '/v1/events'): Spec => ({
  method: 'POST',
  path,
  headers: { 'content-type': contentType },
  body,
});
/** The JSON text of an event with `field` replaced by raw JSON text. */
function withRawField(event: Event, field: string, rawValue: string): string {
  const { [field]: _, ...rest } = event;
  const text = JSON.stringify(rest);
  return `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}"${field}":${rawValue}}`;
}
const nested = (depth: number, inner = '') => '['.repeat(depth) + inner + ']'.repeat(depth);

let tooMany: { json: string; ndjson: string } | undefined;
function tooManyBodies() {
  if (!tooMany) {
    const events = Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, () => validEvent());
    tooMany = { json: JSON.stringify(events), ndjson: events.map((e) => JSON.stringify(e)).join('\n') };
  }
  return tooMany;
}

// ---------------------------------------------------------------------------------------------
// Categories: each builds one hostile request. Shares are of the requested total.

interface Category {
  name: string;
  share: number;
  /** A fixed count instead of a share (for the expensive ones). */
  count?: number;
  make(): Spec;
}

const categories: Category[] = [
  {
    name: 'wrong types',
    share: 0.11,
    make() {
      const event = validEvent();
      const field = pick(ALL_FIELDS);
      const value =
        field === 'price'
          ? pick<unknown>(['69.99', '', null, true, [69.99], { value: 69.99 }, '1e3'])
          : field === 'flightNumbers'
            ? pick<unknown>(['2376', 2376, [2376], [null], [['2376']], {}, null, true])
            : pick<unknown>([123, 0, -1, 1.5, null, true, false, [], [event[field] ?? 'X'], {}, { value: event[field] }]);
      event[field] = value;
      return random() < 0.5 ? json(event) : json([validEvent(), event]);
    },
  },
  {
    name: 'NaN and Infinity as raw text',
    share: 0.05,
    make() {
      const token = pick(['NaN', 'Infinity', '-Infinity', '+Infinity', 'nan', 'inf', '1e999', '-1e999', 'undefined']);
      const field = pick(['price', 'price', 'price', 'origin', 'departureDate']);
      return raw(withRawField(validEvent(), field, token));
    },
  },
  {
    name: 'huge, negative and zero numbers',
    share: 0.07,
    make() {
      const value = pick([
        '0', '-0', '0.0', '-0.0', '-1', '-0.01', '-1e308', '1e308', '1.7976931348623157e308', String(MAX_PRICE),
        `${MAX_PRICE}.5`, '1e7', '123456789012345678901234567890', '-123456789012345678901234567890', '1e21', '9007199254740993e10',
      ]);
      return raw(withRawField(validEvent(), 'price', value));
    },
  },
  {
    name: 'impossible dates',
    share: 0.07,
    make() {
      const event = validEvent();
      if (random() < 0.5) {
        event.departureDate = pick([
          '2016-02-30', '2015-02-29', '2100-02-29', '2016-04-31', '2016-13-01', '2016-00-10', '2016-01-00', '2016-01-32',
          '0000-01-01', '2016-1-1', '16-01-01', '2016/01/01', '20160101', '2016-01-01T00:00:00Z', '+02016-01-01', 'today',
        ]);
      } else {
        event.observedAt = pick([
          '2016-02-30T09:00:00Z', '2015-02-29T09:00:00Z', '2016-04-31T09:00:00Z', '2016-04-01T25:00:00Z',
          '2016-04-01T09:60:00Z', '2016-04-01T09:00:61Z', '2016-04-01T09:00:00', '2016-04-01 09:00:00Z', '2016-04-01',
          '2016-04-01T09:00:00+99:99', '2016-04-01T09:00:00.Z', '2016-13-01T09:00:00Z', 'Fri, 01 Apr 2016 09:00:00 GMT',
          '1459501200000', '2016-04-01T09:00:00.1234567890Z', 'now',
        ]);
      }
      return json(event);
    },
  },
  {
    name: 'observedAt after departure',
    share: 0.05,
    make() {
      const event = validEvent();
      const departureEnd = Date.parse(`${event.departureDate as string}T00:00:00Z`) + 86_400_000;
      const late = pick([0, 1, 1000, 3_600_000, 86_400_000, 365 * 86_400_000]) + int(0, 1000);
      event.observedAt = new Date(departureEnd + late).toISOString();
      if (random() < 0.3) {
        // The same instant written in a zone where it is still the departure day, locally.
        const t = departureEnd + int(0, 3_599_999);
        event.observedAt = `${new Date(t - 5 * 3_600_000).toISOString().slice(0, 19)}-05:00`;
      }
      return json(event);
    },
  },
  {
    name: 'unicode and control characters',
    share: 0.1,
    make() {
      const event = validEvent();
      const field = pick(STRICT_STRING_FIELDS);
      const value = String(event[field] ?? 'W6');
      const at = int(0, value.length);
      event[field] = value.slice(0, at) + pick(HOSTILE_CHARS) + value.slice(at);
      if (random() < 0.3) event.id = Array.from({ length: int(1, 40) }, () => pick(HOSTILE_CHARS)).join('');
      // Some as JSON escapes, some as raw UTF-8 (lone surrogates become U+FFFD on the wire).
      const body = random() < 0.5 ? JSON.stringify(event) : JSON.stringify(event).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
      return raw(body);
    },
  },
  {
    name: 'very long strings',
    share: 0.02,
    make() {
      const event = validEvent();
      const length = pick([129, 1000, 65_536, 65_536, 1_000_000]);
      const field = pick(['id', 'origin', 'currency', 'departureDate', 'observedAt', 'carrier']);
      event[field] = field === 'id' ? 'i'.repeat(length) : 'A'.repeat(length);
      if (random() < 0.3) event.flightNumbers = Array.from({ length: 1000 }, () => '1234');
      return json(event);
    },
  },
  {
    name: 'deeply nested JSON',
    share: 0,
    count: 60,
    make() {
      const depth = pick([1000, 100_000, 100_000, 1_000_000]);
      const kind = int(0, 3);
      if (kind === 0) return raw(nested(depth));
      if (kind === 1) return raw(withRawField(validEvent(), pick(['price', 'flightNumbers', 'extra', 'origin']), nested(depth)));
      if (kind === 2) return raw(nested(depth), 'application/x-ndjson');
      return raw(`{"a":`.repeat(depth) + '1' + '}'.repeat(depth));
    },
  },
  {
    name: 'truncated JSON',
    share: 0.07,
    make() {
      const body = random() < 0.5 ? JSON.stringify(validEvent()) : JSON.stringify([validEvent(), validEvent(), validEvent()]);
      return raw(body.slice(0, int(0, body.length - 1)));
    },
  },
  {
    name: 'wrong content types',
    share: 0.06,
    make() {
      const type = pick([
        'text/plain', 'text/json', 'application/xml', 'text/xml', 'multipart/form-data; boundary=xyz', 'application/x-www-form-urlencoded',
        'application/octet-stream', 'application/jsonx', 'application/json-patch+json', 'application/problem+json', 'json', '*/*',
        'application/*', 'image/png', 'application/x-ndjsonx', ';', 'application/json/x',
      ]);
      const spec = json(random() < 0.5 ? validEvent() : [validEvent()]);
      spec.headers = { 'content-type': type };
      if (random() < 0.2) spec.headers = {};
      return spec;
    },
  },
  {
    name: 'empty bodies',
    share: 0.03,
    make() {
      const type = pick(['application/json', 'application/x-ndjson', 'application/jsonl', 'text/plain', '']);
      const body = pick(['', ' ', '\n', '\n\n\n', '\r\n', '\t']);
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      return { method: 'POST', path: '/v1/events', headers, body };
    },
  },
  {
    name: 'bodies over 10 MB',
    share: 0,
    count: 6,
    make() {
      const size = MAX_BODY_BYTES + pick([1, 1024, 2 * 1024 * 1024]);
      if (random() < 0.5) {
        // Without a Content-Length: the limit must hold while streaming.
        return {
          method: 'POST',
          path: '/v1/events',
          headers: { 'content-type': 'application/json' },
          body: () => {
            let sent = 0;
            const chunk = new TextEncoder().encode(' '.repeat(64 * 1024));
            return new ReadableStream<Uint8Array>({
              pull(controller) {
                if (sent >= size) return controller.close();
                controller.enqueue(chunk);
                sent += chunk.length;
              },
            });
          },
        };
      }
      const event = JSON.stringify(validEvent());
      return raw(`[${event}${' '.repeat(size - event.length)}]`);
    },
  },
  {
    name: 'unknown fields',
    share: 0.05,
    make() {
      const event = validEvent();
      const field = pick(['extra', 'Price', 'price ', 'ORIGIN', 'seriesId', 'admin', 'seq', 'root', 'key', 'isTrusted', 'toString', 'hasOwnProperty', 'valueOf', '', ' ']);
      return raw(withRawField(event, field, JSON.stringify(pick([1, 'x', null, true, {}, []]))));
    },
  },
  {
    name: 'prototype keys',
    share: 0.02,
    make() {
      const field = pick(['__proto__', 'constructor', 'prototype']);
      const value = pick(['{"admin":true}', '{"prototype":{"polluted":1}}', 'null', '[]']);
      const text = JSON.stringify(validEvent());
      return raw(`{"${field}":${value},${text.slice(1)}`);
    },
  },
  {
    name: 'duplicate keys',
    share: 0.04,
    make() {
      const event = validEvent();
      const [field, bad] = pick<[string, string]>([
        ['price', '-1'],
        ['price', '"69.99"'],
        ['origin', '"BCN1"'],
        ['currency', '"eur"'],
        ['departureDate', '"2016-02-30"'],
        ['observedAt', '"2030-01-01T00:00:00Z"'],
      ]);
      // The last occurrence wins in JSON.parse; it is the invalid one.
      const text = JSON.stringify(event);
      return raw(`${text.slice(0, -1)},"${field}":${bad}}`);
    },
  },
  {
    name: 'batches of 10,001 events',
    share: 0,
    count: 8,
    make() {
      const bodies = tooManyBodies();
      return random() < 0.5 ? raw(bodies.json) : raw(bodies.ndjson, 'application/x-ndjson');
    },
  },
  {
    name: 'one bad event in a batch',
    share: 0.03,
    make() {
      const events = Array.from({ length: int(2, 200) }, () => validEvent());
      const bad = events[int(0, events.length - 1)];
      delete bad[pick(REQUIRED_FIELDS)];
      return random() < 0.7 ? json(events) : raw(events.map((e) => JSON.stringify(e)).join('\n'), 'application/x-ndjson');
    },
  },
  {
    name: 'bad NDJSON',
    share: 0.04,
    make() {
      const lines = Array.from({ length: int(1, 20) }, () => JSON.stringify(validEvent()));
      const at = int(0, lines.length - 1);
      lines[at] = pick(['{', '}', 'null', '[]', '[{}]', 'NaN', '"text"', '{"origin":"BCN"', lines[at].slice(0, -3), `${lines[at]},`, '\u0000']);
      return raw(lines.join(pick(['\n', '\r\n'])), pick(['application/x-ndjson', 'application/jsonl']));
    },
  },
  {
    name: 'JSON that is not an event',
    share: 0.03,
    make() {
      return raw(pick(['123', '-1', '"event"', 'null', 'true', 'false', '[]', '[[]]', '[null]', '[1,2,3]', '{}', '[{}]', '{"events":[]}', '""', '0']));
    },
  },
  {
    name: 'invalid UTF-8 and binary',
    share: 0.03,
    make() {
      const bytes = new Uint8Array(int(1, 2000));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(0, 255);
      if (random() < 0.5) {
        // A valid event with a broken UTF-8 sequence in a code.
        const text = JSON.stringify(validEvent()).replace('"origin":"', '"origin":"\u0000');
        const encoded = new TextEncoder().encode(text);
        const at = text.indexOf('\u0000');
        encoded[at] = pick([0xc0, 0xff, 0xfe, 0xed, 0x80]);
        return { method: 'POST', path: '/v1/events', headers: { 'content-type': 'application/json' }, body: encoded };
      }
      return { method: 'POST', path: '/v1/events', headers: { 'content-type': pick(['application/json', 'application/x-ndjson']) }, body: bytes };
    },
  },
  {
    name: 'bad query parameters',
    share: 0.06,
    make() {
      const kind = int(0, 2);
      if (kind === 0) {
        // A valid event with an invalid ?wait: rejected before anything is stored.
        const wait = pick(['maybe', '', '1', '0', 'TRUE', 'yes', 'true ', '%00', 'true%00', 'null', '[]']);
        return json(validEvent(), `/v1/events?wait=${wait}`);
      }
      if (kind === 1) {
        const query = pick(['limit=0', 'limit=-1', 'limit=1001', 'limit=abc', 'limit=1.5', 'limit=NaN', 'limit=Infinity', 'after=-1', 'after=x', 'after=1e400', 'limit=', 'limit=99999999999999999999']);
        return { method: 'GET', path: `/v1/dead-letters?${query}` };
      }
      const query = pick([
        '', 'origin=BCN', 'origin=B&destination=BUD&departureDate=2016-04-20', 'origin=BCN&destination=BCN&departureDate=2016-04-20',
        'origin=BCN&destination=BUD&departureDate=2016-02-30', 'origin=BCN&destination=BUD&departureDate=x', 'origin=%00%00%00&destination=BUD&departureDate=2016-04-20',
        'origin=BCNN&destination=BUD&departureDate=2016-04-20', 'origin[]=BCN&destination=BUD&departureDate=2016-04-20',
      ]);
      return { method: 'GET', path: `/v1/forecast?${query}` };
    },
  },
  {
    name: 'bad paths and methods',
    share: 0.06,
    make() {
      const kind = int(0, 3);
      if (kind === 0) {
        // Each path with a method it does not serve.
        const [path, method] = pick<[string, string]>([
          ['/v1/events', pick(['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])],
          ['/v1/functions', pick(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])],
          ['/v1/dead-letters', pick(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])],
          ['/v1/dead-letters/1/replay', pick(['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])],
        ]);
        return { method, path, headers: { 'content-type': 'application/json' } };
      }
      if (kind === 1) {
        const id = pick(['abc', '-1', '0', '1.5', '99999999999999999999999', '%00', '1;DROP TABLE event_log', "1' OR '1'='1", '123456']);
        return { method: 'POST', path: `/v1/dead-letters/${encodeURIComponent(id)}/replay` };
      }
      if (kind === 2) {
        return {
          method: pick(['GET', 'POST']),
          path: pick([
            '/v1/events/../../etc/passwd', '/v1/..%2f..%2fetc%2fpasswd', '/v1/%00', '/v1/%zz', '/v1/events%00', '/v1//events', '/v1/events/',
            '/v1/EVENTS', '/v2/events', '/v1/functions/extract-features', '/v1/dead-letters/1', `/v1/${'a'.repeat(4000)}`, '/v1/%E0%A4%A',
            '/v1/dead-letters/1/replay/again',
          ]),
        };
      }
      const segment = Array.from({ length: int(1, 30) }, () => String.fromCharCode(int(33, 126))).join('');
      return { method: pick(['GET', 'POST', 'DELETE']), path: `/v1/${encodeURIComponent(segment)}` };
    },
  },
];

// ---------------------------------------------------------------------------------------------

interface Tally {
  sent: number;
  /** Summed response times, ms. */
  ms: number;
  slowest: number;
  statuses: Map<number, number>;
  failures: string[];
}

const LEAK = /\n\s+at |node_modules|\/src\/|\.ts:\d+/;

/** Socket errors a client retries: a keep-alive connection the server closed just as it was reused. */
const STALE_SOCKET = new Set(['ECONNRESET', 'EPIPE']);
let socketRetries = 0;

type Outcome = { status: number; text: string; contentType: string | null } | { error: string };

async function fire(url: string, spec: Spec): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await fireOnce(url, spec);
    if (!('error' in outcome) || !STALE_SOCKET.has(outcome.error) || attempt === 3) return outcome;
    // Safe to resend: every request here is invalid. A server that kills the connection on some input
    // does it again, and is reported.
    socketRetries++;
  }
}

// node:http rather than fetch: this client must outrun the service on a small machine.
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const guardedSockets = new WeakSet<object>();

function fireOnce(url: string, spec: Spec): Promise<Outcome> {
  return new Promise((resolve) => {
    const body = typeof spec.body === 'function' ? Readable.fromWeb(spec.body() as never) : spec.body;
    const headers: Record<string, string | number> = { ...spec.headers };
    if (body !== undefined && !(body instanceof Readable)) headers['content-length'] = Buffer.byteLength(body);
    const req = httpRequest(`${url}${spec.path}`, { method: spec.method, headers, agent, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), contentType: res.headers['content-type'] ?? null }),
      );
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    });
    // A socket may still be writing a body the service refused early (413); once the response
    // detaches it from this request, its EPIPE must not take the client down.
    req.on('socket', (socket) => {
      if (!guardedSockets.has(socket)) {
        guardedSockets.add(socket);
        socket.on('error', () => {});
      }
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    // The service may answer (413) and close before the body is sent: that is not an error here.
    if (body instanceof Readable) pipeline(body, req, () => {});
    else req.end(body);
  });
}

function judge(spec: Spec, outcome: Awaited<ReturnType<typeof fire>>): string | undefined {
  if ('error' in outcome) return `no response (${outcome.error})`;
  const { status, text, contentType } = outcome;
  if (status >= 500) return `${status}: ${text.slice(0, 200)}`;
  if (status < 400) return `not rejected: ${status} ${text.slice(0, 200)}`;
  if (!contentType?.startsWith('application/json')) return `${status} without JSON (${contentType}): ${text.slice(0, 100)}`;
  let body: { error?: { code?: string; message?: string; requestId?: string } };
  try {
    body = JSON.parse(text);
  } catch {
    return `${status} body is not JSON: ${text.slice(0, 100)}`;
  }
  if (!body.error || !ERROR_CODES.includes(body.error.code as never) || typeof body.error.message !== 'string' || !body.error.requestId) {
    return `${status} without the envelope: ${text.slice(0, 200)}`;
  }
  if (LEAK.test(text)) return `${status} leaks internals: ${text.slice(0, 200)}`;
  void spec;
  return undefined;
}

async function main(): Promise<void> {
  const started = Date.now();
  const dir = scratchDir('faresight-fuzz-');
  const dbPath = join(dir.path, 'fuzz.db');
  const service = await childService({ dbPath, env: { FARESIGHT_LOG_LEVEL: 'warn' } });
  await service.start();
  const countRows = () => {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const n = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      return { events: n('event_log'), deliveries: n('deliveries'), series: n('series') };
    } finally {
      db.close();
    }
  };
  const before = countRows();

  // The plan: fixed counts first, then shares of what is left of the target.
  const fixed = categories.reduce((n, c) => n + (c.count ?? 0), 0);
  const shares = categories.reduce((n, c) => n + c.share, 0);
  const plan: Category[] = [];
  for (const category of categories) {
    const count = category.count ?? Math.ceil((Math.max(0, TARGET - fixed) * category.share) / shares);
    for (let i = 0; i < count; i++) plan.push(category);
  }
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [plan[i], plan[j]] = [plan[j], plan[i]];
  }
  console.log(`fuzz-http: seed ${SEED}, ${plan.length} requests in ${categories.length} categories, ${CONCURRENCY} at a time, at ${service.url}`);

  const tallies = new Map<string, Tally>(categories.map((c) => [c.name, { sent: 0, ms: 0, slowest: 0, statuses: new Map(), failures: [] }]));
  let regenerated = 0;
  let next = 0;
  let done = 0;
  async function worker(): Promise<void> {
    while (next < plan.length) {
      const category = plan[next++];
      let spec = category.make();
      // Only invalid requests: a generated request that would be accepted is replaced.
      for (let tries = 0; wouldStore(spec) && tries < 20; tries++) {
        regenerated++;
        spec = category.make();
      }
      if (wouldStore(spec)) throw new Error(`category ${category.name} keeps generating valid requests`);
      const tally = tallies.get(category.name)!;
      const t0 = performance.now();
      const outcome = await fire(service.url, spec);
      const ms = performance.now() - t0;
      tally.sent++;
      tally.ms += ms;
      tally.slowest = Math.max(tally.slowest, ms);
      const status = 'status' in outcome ? outcome.status : 0;
      tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
      const failure = judge(spec, outcome);
      if (failure) tally.failures.push(`${spec.method} ${spec.path.slice(0, 80)}: ${failure}`);
      if (++done % 2000 === 0) process.stdout.write(`  ${done}/${plan.length}\n`);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));

  const health = await fetch(`${service.url}/healthz`).then((r) => r.status, () => 0);
  const ready = await fetch(`${service.url}/readyz`).then((r) => r.status, () => 0);
  const alive = service.pid() !== undefined;
  await service.stop();
  const after = countRows();

  console.log('');
  console.log(`${'category'.padEnd(34)} ${'sent'.padStart(6)} ${'mean ms'.padStart(8)} ${'max ms'.padStart(8)}  outcome`);
  let total = 0;
  let fiveXX = 0;
  let failures = 0;
  for (const category of categories) {
    const tally = tallies.get(category.name)!;
    total += tally.sent;
    failures += tally.failures.length;
    for (const [status, n] of tally.statuses) if (status >= 500) fiveXX += n;
    const outcome = [...tally.statuses.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([status, n]) => `${status === 0 ? 'no response' : status}×${n}`)
      .join(' ');
    const mean = tally.sent ? (tally.ms / tally.sent).toFixed(0) : '-';
    console.log(`${category.name.padEnd(34)} ${String(tally.sent).padStart(6)} ${mean.padStart(8)} ${tally.slowest.toFixed(0).padStart(8)}  ${outcome}${tally.failures.length ? `  FAILED ${tally.failures.length}` : ''}`);
    for (const failure of tally.failures.slice(0, 3)) console.log(`    ${failure}`);
  }
  const stored = after.events - before.events;
  console.log('');
  console.log(`requests          ${total} in ${((Date.now() - started) / 1000).toFixed(1)} s (${regenerated} regenerated because they were valid, ${socketRetries} resent after a stale keep-alive socket)`);
  console.log(`5xx               ${fiveXX}`);
  console.log(`not a 4xx envelope ${failures - fiveXX}`);
  console.log(`stored            ${stored} events (event_log ${before.events} → ${after.events}, deliveries ${before.deliveries} → ${after.deliveries}, series ${before.series} → ${after.series})`);
  console.log(`healthy after     /healthz ${health}, /readyz ${ready}, process ${alive ? 'alive' : 'gone'}`);

  const ok = failures === 0 && stored === 0 && after.deliveries === before.deliveries && after.series === before.series && health === 200 && alive;
  if (!ok || args.keep) console.log(`kept ${dir.path} (service log: ${service.logPath})`);
  else dir.remove();
  console.log(ok ? 'fuzz-http: passed' : 'fuzz-http: FAILED');
  process.exit(ok ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
