import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import type { Service } from '../../src/service.js';
import { closeServices, fareEvent, makeService } from '../helpers/index.js';

const RUNS = 400;

let service: Service;
beforeAll(() => {
  service = makeService({ start: false });
});
afterAll(closeServices);

const KNOWN_PATHS = [
  '/v1/events',
  '/v1/events?wait=true',
  '/v1/events?wait=maybe',
  '/v1/functions',
  '/v1/dead-letters',
  '/v1/dead-letters?limit=0',
  '/v1/dead-letters?limit=1e9&after=-1',
  '/v1/dead-letters/1/replay',
  '/v1/dead-letters/abc/replay',
  '/v1/dead-letters/99999999999999999999999/replay',
  '/v1/forecast?origin=BCN&destination=BUD&departureDate=2016-04-20',
  '/v1/forecast?origin=B&destination=&departureDate=2016-02-30',
  '/v1/models',
  '/healthz',
  '/readyz',
  '/v1/%00',
  '/v1/events/../../etc/passwd',
  '/%E0%A4%A',
];

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/x-ndjson',
  'application/jsonl',
  'text/plain',
  'application/xml',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  '',
  ';;;',
];

/** A body: text, JSON of any shape, a mutated event, raw bytes, or nothing. */
const body = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({ field: fc.constantFrom('origin', 'price', 'observedAt', 'departureDate', 'currency', 'extra'), value: fc.jsonValue() }).map(({ field, value }) =>
    JSON.stringify(fareEvent({ [field]: value })),
  ),
  fc.array(fc.jsonValue(), { maxLength: 5 }).map((items) => items.map((i) => JSON.stringify(i)).join('\n')),
  fc.uint8Array({ maxLength: 200 }),
  fc.constant(undefined),
);

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
  path: fc.oneof(fc.constantFrom(...KNOWN_PATHS), fc.webPath().map((p) => `/v1${p}`), fc.webUrl({ withQueryParameters: true }).map((u) => `/v1/events${u.slice(u.indexOf('?') >= 0 ? u.indexOf('?') : u.length)}`)),
  contentType: fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.string({ maxLength: 40 })),
  body,
});

describe('HTTP layer under fuzzing (in process)', () => {
  it('never answers 5xx, and every 4xx carries the error envelope', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async ({ method, path, contentType, body }) => {
        const headers: Record<string, string> = {};
        // Header values must be ByteStrings; fuzzed ones that are not are dropped, as a client would fail to send them.
        if (contentType && /^[\x20-\x7e]*$/.test(contentType)) headers['content-type'] = contentType;
        const hasBody = method !== 'GET' && method !== 'HEAD' && body !== undefined;
        const res = await service.app.request(path, { method, headers, body: hasBody ? body : undefined });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const text = await res.text();
        expect(res.status, `${method} ${path} (${contentType}): ${text.slice(0, 300)}`).toBeLessThan(500);
        expect(text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
        if (res.status >= 400 && method !== 'HEAD') {
          expect(res.headers.get('content-type')).toMatch(/^application\/json/);
          const parsed = JSON.parse(text) as { error: { code: string; message: string } };
          expect(ERROR_CODES).toContain(parsed.error.code);
          expect(typeof parsed.error.message).toBe('string');
        }
      }),
      { numRuns: RUNS },
    );
    // The fuzz reached the validators, not only the router.
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(404) ?? 0).toBeGreaterThan(0);
  });
});
