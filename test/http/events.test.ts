import { afterEach, describe, expect, it } from 'vitest';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import { canonicalContent, unpackFareEvent } from '../../src/events/fare-event.js';
import { extractFeatures } from '../../src/functions/extract-features.js';
import { MAX_EVENTS_PER_REQUEST } from '../../src/http/events.js';
import type { Service } from '../../src/service.js';
import { fareEvent, fareSeries, manySeriesEvents, ndjson } from '../helpers/events.js';
import { body, get, post, type ErrorBody } from '../helpers/http.js';
import { closeServices, countRows, makeService } from '../helpers/service.js';

afterEach(closeServices);

/** Fare events in the log of a service. */
const stored = (service: Service) => countRows(service, 'event_log', 'type = ?', FARE_OBSERVED);

describe('POST /v1/events', () => {
  describe('accepted bodies', () => {
    it('takes a single event object', async () => {
      const service = makeService();
      const res = await post(service.app, fareEvent());
      expect(res.status).toBe(202);
      expect(await body(res)).toEqual({ accepted: 1, duplicates: 0 });
      expect(service.storage.log.head()).toBe(1);
      const [event] = service.storage.log.readAfter(0, [FARE_OBSERVED], 10);
      expect(event).toMatchObject({
        type: FARE_OBSERVED,
        series: 'BCN-BUD-2016-04-20',
        time: Date.parse('2016-04-01T09:00:00Z'),
        payload: { origin: 'BCN', destination: 'BUD', observedAt: '2016-04-01T09:00:00.000Z', price: 69.99, currency: 'EUR' },
      });
    });

    it('stores validated, normalised content', async () => {
      const service = makeService();
      await post(service.app, fareEvent({ origin: 'bcn', destination: 'bud', observedAt: '2016-04-01T11:00:00+02:00' }));
      const [event] = service.storage.log.readAfter(0, [FARE_OBSERVED], 10);
      expect(event.series).toBe('BCN-BUD-2016-04-20');
      expect(event.payload).toMatchObject({ origin: 'BCN', destination: 'BUD', observedAt: '2016-04-01T09:00:00.000Z' });
    });

    it('takes a JSON array', async () => {
      const service = makeService();
      const res = await post(service.app, fareSeries(3));
      expect(res.status).toBe(202);
      expect(await body(res)).toEqual({ accepted: 3, duplicates: 0 });
      expect(stored(service)).toBe(3);
    });

    it.each(['application/x-ndjson', 'application/jsonl', 'application/x-ndjson; charset=utf-8'])('takes NDJSON as %s', async (contentType) => {
      const service = makeService();
      const res = await post(service.app, ndjson(fareSeries(4)), { contentType });
      expect(res.status).toBe(202);
      expect(await body(res)).toEqual({ accepted: 4, duplicates: 0 });
      expect(stored(service)).toBe(4);
    });

    it('ignores blank lines and a missing final newline in NDJSON', async () => {
      const service = makeService();
      const [a, b] = fareSeries(2).map((e) => JSON.stringify(e));
      const res = await post(service.app, `\n${a}\n\n  \n${b}`, { contentType: 'application/x-ndjson' });
      expect(await body(res)).toEqual({ accepted: 2, duplicates: 0 });
    });

    it('takes application/json with a charset', async () => {
      const service = makeService();
      const res = await post(service.app, fareEvent(), { contentType: 'application/json; charset=utf-8' });
      expect(res.status).toBe(202);
    });

    it('takes the most events a request may carry', async () => {
      const service = makeService();
      const res = await post(service.app, ndjson(manySeriesEvents(MAX_EVENTS_PER_REQUEST, 100)), { contentType: 'application/x-ndjson' });
      expect(res.status).toBe(202);
      expect(await body(res)).toEqual({ accepted: 10_000, duplicates: 0 });
      expect(stored(service)).toBe(10_000);
    });
  });

  describe('idempotency', () => {
    it('counts the same batch sent again as duplicates and stores nothing new', async () => {
      const service = makeService();
      const batch = fareSeries(5);
      expect(await body(await post(service.app, batch))).toEqual({ accepted: 5, duplicates: 0 });
      const head = service.storage.log.head();
      const again = await post(service.app, batch);
      expect(again.status).toBe(202);
      expect(await body(again)).toEqual({ accepted: 0, duplicates: 5 });
      expect(service.storage.log.head()).toBe(head);
    });

    it('recognises the same observation written in another zone, order or format', async () => {
      const service = makeService();
      const batch = fareSeries(3);
      await post(service.app, batch);
      const rewritten = batch.map((e) => ({
        ...e,
        origin: 'bcn',
        observedAt: new Date(Date.parse(e.observedAt as string) + 2 * 3_600_000).toISOString().replace('Z', '+02:00').replace('.000', ''),
      }));
      const res = await post(service.app, ndjson(rewritten.reverse()), { contentType: 'application/x-ndjson' });
      expect(await body(res)).toEqual({ accepted: 0, duplicates: 3 });
      expect(stored(service)).toBe(3);
    });

    it('counts new and known events of one batch separately', async () => {
      const service = makeService();
      const [a, b, c] = fareSeries(3);
      await post(service.app, [a]);
      expect(await body(await post(service.app, [a, b, c]))).toEqual({ accepted: 2, duplicates: 1 });
      expect(stored(service)).toBe(3);
    });

    it('counts an event repeated within one request once', async () => {
      const service = makeService();
      const [a] = fareSeries(1);
      expect(await body(await post(service.app, [a, a, a]))).toEqual({ accepted: 1, duplicates: 2 });
      expect(stored(service)).toBe(1);
    });

    it('uses the client id as the key when there is one', async () => {
      const service = makeService();
      await post(service.app, fareEvent({ id: 'obs-1' }));
      // Same content under another id is another event.
      expect(await body(await post(service.app, fareEvent({ id: 'obs-2' })))).toEqual({ accepted: 1, duplicates: 0 });
      expect(await body(await post(service.app, fareEvent({ id: 'obs-1' })))).toEqual({ accepted: 0, duplicates: 1 });
    });

    it('stores no content with an event, and still tells duplicates from conflicts for events stored with one', async () => {
      const service = makeService();
      const [a, b] = fareSeries(2);
      await post(service.app, [a, b]);
      const sqlite = service.database.sqlite;
      expect(sqlite.prepare('SELECT count(*) FROM event_log WHERE content_hash IS NOT NULL').pluck().get()).toBe(0);
      // As an event stored before payloads were compared: its canonical content in content_hash.
      const row = sqlite.prepare('SELECT seq, payload FROM event_log ORDER BY seq LIMIT 1').get() as { seq: number; payload: string };
      sqlite.prepare('UPDATE event_log SET content_hash = ? WHERE seq = ?').run(canonicalContent(unpackFareEvent(row.payload)), row.seq);
      expect(await body(await post(service.app, [a, b]))).toEqual({ accepted: 0, duplicates: 2 });
      expect((await post(service.app, { ...a, price: (a.price as number) + 1 })).status).toBe(409);
      expect((await post(service.app, { ...b, price: (b.price as number) + 1 })).status).toBe(409);
    });

    it('answers 409 to a known key with different content, storing nothing of that request', async () => {
      const service = makeService();
      const [a, b, c] = fareSeries(3);
      await post(service.app, [a, b]);
      const head = service.storage.log.head();

      const res = await post(service.app, [c, { ...a, price: (a.price as number) + 1 }]);
      expect(res.status).toBe(409);
      const error = (await body<ErrorBody>(res)).error;
      expect(error.code).toBe('conflict');
      expect(error.message).toMatch(/event 1 /);
      expect(error.issues).toEqual([{ index: 1, path: 'observedAt', message: expect.stringContaining('different content') }]);
      expect(service.storage.log.head()).toBe(head);
      expect(stored(service)).toBe(2);
      // The new event of the rejected request was not stored: it is accepted now.
      expect(await body(await post(service.app, c))).toEqual({ accepted: 1, duplicates: 0 });
    });

    it('answers 409 to a reused client id, naming the id', async () => {
      const service = makeService();
      await post(service.app, fareEvent({ id: 'obs-1' }));
      const res = await post(service.app, [fareEvent({ id: 'obs-2', price: 10 }), fareEvent({ id: 'obs-1', price: 99 })]);
      expect(res.status).toBe(409);
      expect((await body<ErrorBody>(res)).error.issues).toEqual([{ index: 1, path: 'id', message: expect.any(String) }]);
      expect(stored(service)).toBe(1);
    });

    it('answers 409 to two different events with one key in the same request', async () => {
      const service = makeService();
      const res = await post(service.app, [fareEvent({ price: 10 }), fareEvent({ price: 11 })]);
      expect(res.status).toBe(409);
      expect(stored(service)).toBe(0);
    });
  });

  describe('rejected bodies', () => {
    it('rejects a batch with one invalid event with 400, naming its index, and stores nothing', async () => {
      const service = makeService();
      const batch = fareSeries(5);
      batch[3] = { ...batch[3], currency: 'euro' };
      const res = await post(service.app, batch);
      expect(res.status).toBe(400);
      const error = (await body<ErrorBody>(res)).error;
      expect(error.code).toBe('invalid_request');
      expect(error.message).toBe('1 of 5 events are invalid; nothing was stored');
      expect(error.issues).toEqual([
        { index: 3, path: 'currency', message: 'currency must be an ISO 4217 code in upper case, e.g. EUR' },
      ]);
      expect(typeof error.requestId).toBe('string');
      expect(service.storage.log.head()).toBe(0);
    });

    it('lists every problem of each invalid event', async () => {
      const service = makeService();
      const res = await post(service.app, [fareEvent(), fareEvent({ origin: 'X', price: -1 }), fareEvent({ extra: true })]);
      expect(res.status).toBe(400);
      const issues = (await body<ErrorBody>(res)).error.issues!;
      expect(issues.map((i) => [i.index, i.path]).sort()).toEqual([
        [1, 'origin'],
        [1, 'price'],
        [2, ''],
      ]);
    });

    it('lists at most 100 issues, but counts every invalid event', async () => {
      const service = makeService();
      const batch = fareSeries(150).map((e) => ({ ...e, currency: 'xx' }));
      const res = await post(service.app, batch);
      expect(res.status).toBe(400);
      const error = (await body<ErrorBody>(res)).error;
      expect(error.issues).toHaveLength(100);
      expect(error.issues!.map((i) => i.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect(error.message).toBe('150 of 150 events are invalid; nothing was stored');
      expect(service.storage.log.head()).toBe(0);
    });

    it('rejects more than 10,000 events with 413, as JSON or NDJSON', async () => {
      const service = makeService();
      const events = manySeriesEvents(MAX_EVENTS_PER_REQUEST + 1, 100);
      const json = await post(service.app, events);
      expect(json.status).toBe(413);
      const error = (await body<ErrorBody>(json)).error;
      expect(error.code).toBe('payload_too_large');
      expect(error.message).toContain('10,001');
      const lines = await post(service.app, ndjson(events), { contentType: 'application/x-ndjson' });
      expect(lines.status).toBe(413);
      expect(service.storage.log.head()).toBe(0);
    });

    it('rejects a body over 10 MB with 413', async () => {
      const service = makeService();
      const padded = `[${JSON.stringify(fareEvent())}${' '.repeat(10 * 1024 * 1024)}]`;
      const res = await post(service.app, padded);
      expect(res.status).toBe(413);
      expect((await body<ErrorBody>(res)).error.code).toBe('payload_too_large');
      expect(service.storage.log.head()).toBe(0);
    });

    it.each(['text/plain', 'application/xml', 'multipart/form-data; boundary=x'])('rejects content type %s with 415', async (contentType) => {
      const service = makeService();
      const res = await post(service.app, JSON.stringify(fareEvent()), { contentType });
      expect(res.status).toBe(415);
      expect((await body<ErrorBody>(res)).error.code).toBe('unsupported_media_type');
      expect(service.storage.log.head()).toBe(0);
    });

    it('rejects a body without a content type with 415', async () => {
      const service = makeService();
      const res = await service.app.request('/v1/events', { method: 'POST', body: new TextEncoder().encode(JSON.stringify(fareEvent())) });
      expect(res.status).toBe(415);
    });

    it('rejects an empty array and an empty NDJSON body with 400', async () => {
      const service = makeService();
      const empty = await post(service.app, []);
      expect(empty.status).toBe(400);
      expect((await body<ErrorBody>(empty)).error).toMatchObject({ code: 'invalid_request', message: 'the request holds no events' });
      const blank = await post(service.app, '\n\n', { contentType: 'application/x-ndjson' });
      expect(blank.status).toBe(400);
    });

    it.each(['{"origin": "BCN",', '', 'not json', '[{}'])('rejects invalid JSON %j with 400', async (text) => {
      const service = makeService();
      const res = await post(service.app, text);
      expect(res.status).toBe(400);
      expect((await body<ErrorBody>(res)).error).toMatchObject({ code: 'invalid_request', message: 'the body is not valid JSON' });
    });

    it.each(['42', 'null', '"event"', 'true'])('rejects the JSON value %s with 400', async (text) => {
      const service = makeService();
      const res = await post(service.app, text);
      expect(res.status).toBe(400);
      expect((await body<ErrorBody>(res)).error.code).toBe('invalid_request');
    });

    it('rejects array items that are not objects, by index', async () => {
      const service = makeService();
      const res = await post(service.app, [fareEvent(), 'x', null]);
      expect(res.status).toBe(400);
      const indexes = new Set((await body<ErrorBody>(res)).error.issues!.map((i) => i.index));
      expect(indexes).toEqual(new Set([1, 2]));
    });

    it('rejects a malformed NDJSON line with 400 naming its index, and stores nothing', async () => {
      const service = makeService();
      const [a, b, c] = fareSeries(3).map((e) => JSON.stringify(e));
      const res = await post(service.app, [a, b.slice(0, -5), c].join('\n'), { contentType: 'application/x-ndjson' });
      expect(res.status).toBe(400);
      const error = (await body<ErrorBody>(res)).error;
      expect(error.issues).toEqual([{ index: 1, path: '', message: 'line is not valid JSON' }]);
      expect(error.message).toBe('1 of 3 events are invalid; nothing was stored');
      expect(service.storage.log.head()).toBe(0);
    });

    it('reports malformed NDJSON lines and invalid events together', async () => {
      const service = makeService();
      const [a, b, c] = fareSeries(3);
      const lines = [JSON.stringify(a), '{oops', JSON.stringify({ ...c, price: 0 }), JSON.stringify(b)].join('\n');
      const res = await post(service.app, lines, { contentType: 'application/x-ndjson' });
      expect(res.status).toBe(400);
      const issues = (await body<ErrorBody>(res)).error.issues!;
      expect(issues.map((i) => [i.index, i.path])).toEqual([
        [1, ''],
        [2, 'price'],
      ]);
    });

    it('rejects a wait parameter other than true or false', async () => {
      const service = makeService();
      const res = await post(service.app, fareEvent(), { wait: 'yes' });
      expect(res.status).toBe(400);
      expect(service.storage.log.head()).toBe(0);
    });
  });

  describe('?wait=true', () => {
    it('responds once extract-features has processed the events', async () => {
      const service = makeService({ functions: [extractFeatures], start: true, pollIntervalMs: 600_000 });
      const events = [...fareSeries(6, { departureDate: '2016-04-20' }), ...fareSeries(4, { departureDate: '2016-04-22' })];
      const res = await post(service.app, events, { wait: 'true' });
      expect(res.status).toBe(202);
      expect(await body(res)).toEqual({ accepted: 10, duplicates: 0, pending: 0 });
      // No await between the response and these reads: the state must be there already.
      expect(service.functionDeps.series.history('BCN-BUD-2016-04-20')).toHaveLength(6);
      expect(service.functionDeps.series.history('BCN-BUD-2016-04-22')).toHaveLength(4);
      const { body: listing } = await get(service.app, '/v1/functions');
      const stats = listing.functions.find((f: { id: string }) => f.id === 'extract-features');
      expect(stats).toMatchObject({ lag: 0, failures: 0 });
      expect(stats.invocations).toBeGreaterThanOrEqual(1);
    });

    it('also waits when every event was a duplicate', async () => {
      const service = makeService({ functions: [extractFeatures], pollIntervalMs: 600_000 });
      const events = fareSeries(3);
      await post(service.app, events);
      service.runtime.start();
      const res = await post(service.app, events, { wait: 'true' });
      expect(await body(res)).toEqual({ accepted: 0, duplicates: 3, pending: 0 });
      expect(service.functionDeps.series.history('BCN-BUD-2016-04-20')).toHaveLength(3);
    });

    it('waits for the whole pipeline of the registered functions', async () => {
      const service = makeService({ start: true });
      const res = await post(service.app, fareSeries(5), { wait: 'true' });
      expect(res.status).toBe(202);
      expect(await body(res)).toMatchObject({ accepted: 5, duplicates: 0, pending: 0 });
      expect(service.functionDeps.series.history('BCN-BUD-2016-04-20')).toHaveLength(5);
      const { body: listing } = await get(service.app, '/v1/functions');
      for (const fn of listing.functions) expect(fn.lag, fn.id).toBe(0);
    });

    it('without wait, responds before any function ran', async () => {
      const service = makeService({ functions: [extractFeatures] });
      const res = await post(service.app, fareSeries(3), { wait: 'false' });
      expect(await body(res)).toEqual({ accepted: 3, duplicates: 0 });
      expect(service.functionDeps.series.history('BCN-BUD-2016-04-20')).toBeUndefined();
    });
  });
});
