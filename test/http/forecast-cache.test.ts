import { serve, type ServerType } from '@hono/node-server';
import Database from 'better-sqlite3';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSqliteSeriesStore } from '../../src/db/stores.js';
import { SECURITY_HEADERS } from '../../src/http/headers.js';
import { packedPairs, pricePointsOf } from '../../src/model/features.js';
import type { Service } from '../../src/service.js';
import { closeForecastServices, createModelDouble, createSwappableProvider, makeForecastService } from '../helpers/forecast.js';
import { fareEvent, nextTurn, post, tempDbPath } from '../helpers/index.js';

const others: Database.Database[] = [];
const servers: ServerType[] = [];
afterEach(async () => {
  for (const db of others.splice(0)) db.close();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  await closeForecastServices();
});

const PATH = '/v1/forecast?origin=BCN&destination=BUD&departureDate=2016-04-20';
const SERIES = 'BCN-BUD-2016-04-20';

async function send(service: Service, events: unknown[]): Promise<void> {
  const res = await post(service.app, events, { wait: 'true' });
  expect(res.status).toBe(202);
  expect((await res.json()).pending).toBe(0);
}

/** A service on a database file, with one series forecast from two observations. */
async function fileService(): Promise<{ service: Service; path: string }> {
  const path = tempDbPath();
  const service = makeForecastService(createSwappableProvider(createModelDouble({ version: 'a' })), { config: { FARESIGHT_DB_PATH: path } });
  await send(service, [fareEvent({ observedAt: '2016-04-01T09:00:00Z', price: 70 }), fareEvent({ observedAt: '2016-04-02T09:00:00Z', price: 65 })]);
  return { service, path };
}

/** A second connection to the service's database file, as another process (an import, a second service) holds it. */
function otherProcess(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  others.push(db);
  return db;
}

async function read(service: Service, path = PATH): Promise<{ res: Response; text: string; body: any }> {
  const res = await service.app.request(path);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return { res, text, body: JSON.parse(text) };
}

describe('GET /v1/forecast from the cache of rendered forecasts', () => {
  it('answers a repeated read without reading the stored stamp while nothing was written', async () => {
    const { service } = await fileService();
    const stamp = vi.spyOn(service.functionDeps.forecasts, 'stamp');
    const read1 = vi.spyOn(service.functionDeps.forecasts, 'read');
    const first = await read(service);
    const again = await read(service);
    const third = await read(service, PATH.replace('BCN', 'bcn'));
    expect(again.text).toBe(first.text);
    expect(third.text).toBe(first.text);
    expect(read1).toHaveBeenCalledTimes(1);
    expect(stamp).not.toHaveBeenCalled();

    // A write anywhere (here: another series) makes the next read check the stamp, once.
    await send(service, [fareEvent({ departureDate: '2016-04-21', price: 80 })]);
    expect((await read(service)).text).toBe(first.text);
    expect((await read(service)).text).toBe(first.text);
    expect(stamp).toHaveBeenCalledTimes(1);
    expect(read1).toHaveBeenCalledTimes(1);
  });

  it('renders every read with FARESIGHT_FORECAST_CACHE_MB=0', async () => {
    const path = tempDbPath();
    const service = makeForecastService(createSwappableProvider(createModelDouble({ version: 'a' })), {
      config: { FARESIGHT_DB_PATH: path, FARESIGHT_FORECAST_CACHE_MB: '0' },
    });
    await send(service, [fareEvent({ observedAt: '2016-04-01T09:00:00Z', price: 70 })]);
    const read1 = vi.spyOn(service.functionDeps.forecasts, 'read');
    const first = await read(service);
    expect((await read(service)).text).toBe(first.text);
    expect(read1).toHaveBeenCalledTimes(2);
  });

  it('serves the forecast another process wrote from the next event-loop turn on, never the cached one', async () => {
    const { service, path } = await fileService();
    const before = (await read(service)).body;
    expect((await read(service)).body).toEqual(before);

    const other = otherProcess(path);
    const row = other.prepare('SELECT payload FROM forecasts WHERE series = ?').get(SERIES) as { payload: string };
    const payload = { ...JSON.parse(row.payload), recommendation: 'wait', confidence: 0.9, probabilityCheaperLater: 0.9 };
    other
      .prepare('UPDATE forecasts SET payload = ?, recommendation = ?, revision = revision + 1 WHERE series = ?')
      .run(JSON.stringify(payload), 'wait', SERIES);
    await nextTurn();

    const after = (await read(service)).body;
    expect(after).toMatchObject({ recommendation: 'wait', confidence: 0.9, probabilityCheaperLater: 0.9 });
    expect(after.history).toEqual(before.history);
  });

  it('serves the history another process appended from the next event-loop turn on, with the stored forecast unchanged', async () => {
    const { service, path } = await fileService();
    const before = (await read(service)).body;
    expect(before.history).toHaveLength(2);

    // A late observation processed elsewhere: the series changes, the forecast row does not.
    const series = createSqliteSeriesStore(otherProcess(path));
    const state = series.load([SERIES]).get(SERIES)!;
    series.save([{ ...state, points: pricePointsOf([Date.parse('2016-03-31T09:00:00Z'), 90, ...packedPairs(state.points)]) }]);
    await nextTurn();

    const after = (await read(service)).body;
    expect(after.history).toEqual([{ observedAt: '2016-03-31T09:00:00.000Z', price: 90 }, ...before.history]);
    expect({ ...after, history: undefined }).toEqual({ ...before, history: undefined });
  });

  it('serves this process’s own new forecast and history once the write is committed', async () => {
    const { service } = await fileService();
    const before = (await read(service)).body;
    await send(service, [fareEvent({ observedAt: '2016-04-03T09:00:00Z', price: 55 })]);
    const after = (await read(service)).body;
    expect(after).toMatchObject({ asOf: '2016-04-03T09:00:00.000Z', currentPrice: 55 });
    expect(after.history).toEqual([...before.history, { observedAt: '2016-04-03T09:00:00.000Z', price: 55 }]);
  });

  it('gives a cached answer the same headers as a fresh one: security headers, request id, content type and length', async () => {
    const { service } = await fileService();
    const fresh = await read(service);
    const cached = await service.app.request(PATH, { headers: { 'x-request-id': 'client-id-42' } });
    const cachedText = await cached.text();
    expect(cachedText).toBe(fresh.text);
    for (const res of [fresh.res, cached]) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name), name).toBe(value);
      expect(res.headers.get('content-type')).toBe('application/json; charset=UTF-8');
      expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(fresh.text)));
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
    expect(fresh.res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(cached.headers.get('x-request-id')).toBe('client-id-42');
    // An id that is too long or has other characters is replaced, as for every route.
    for (const id of ['x'.repeat(256), 'a b', '<script>']) {
      const res = await service.app.request(PATH, { headers: { 'x-request-id': id } });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('answers the same over HTTP, fresh and cached, with a correct Content-Length', async () => {
    const { service } = await fileService();
    const server = serve({ fetch: service.app.fetch, hostname: '127.0.0.1', port: 0 });
    servers.push(server);
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(url + PATH, { headers: { 'x-request-id': `req-${i}` } });
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(res.status).toBe(200);
      expect(Number(res.headers.get('content-length'))).toBe(bytes.byteLength);
      expect(res.headers.get('x-request-id')).toBe(`req-${i}`);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name), name).toBe(value);
      answers.push(bytes.toString('utf8'));
    }
    expect(new Set(answers).size).toBe(1);
    expect(JSON.parse(answers[0])).toMatchObject({ origin: 'BCN', destination: 'BUD', history: [{ price: 70 }, { price: 65 }] });
    const head = await fetch(url + PATH, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('still validates every query text it has not seen pass, however close to one that did', async () => {
    const { service } = await fileService();
    const cached = await read(service);
    for (const path of [
      `${PATH}&origin=BCN`,
      PATH.replace('2016-04-20', '2016-04-31'),
      PATH.replace('BUD', 'BCN'),
      PATH.replace('origin=BCN&', ''),
      PATH.replace('?', '?x=1&').replace('BCN', 'BC'),
    ]) {
      const res = await service.app.request(path);
      expect(res.status, path).toBe(400);
      expect((await res.json()).error.code).toBe('invalid_request');
    }
    // Unknown parameters are ignored, as they always were.
    expect((await read(service, `${PATH}&utm_source=mail`)).text).toBe(cached.text);
  });

  it('never answers other methods from the cache', async () => {
    const { service } = await fileService();
    await read(service);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await service.app.request(PATH, { method });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('etag'), method).toBeNull();
    }
  });
});

describe('GET /v1/forecast with conditional requests', () => {
  const conditional = (service: Service, ifNoneMatch: string) => service.app.request(PATH, { headers: { 'if-none-match': ifNoneMatch } });

  it('tags every forecast with a strong ETag and Cache-Control: no-cache, the same fresh and cached', async () => {
    const { service } = await fileService();
    const fresh = await read(service);
    const cached = await read(service);
    const etag = fresh.res.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]{27}"$/);
    expect(cached.res.headers.get('etag')).toBe(etag);
    for (const { res } of [fresh, cached]) expect(res.headers.get('cache-control')).toBe('no-cache');
  });

  it('answers 304 without a body while If-None-Match names the current forecast, and 200 once it changed', async () => {
    const { service } = await fileService();
    const first = await read(service);
    const etag = first.res.headers.get('etag')!;

    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await conditional(service, header);
      expect(res.status, header).toBe(304);
      expect(await res.text()).toBe('');
      expect(res.headers.get('etag')).toBe(etag);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    const other = await conditional(service, '"something-else"');
    expect(other.status).toBe(200);
    expect(await other.text()).toBe(first.text);

    // A new fare event changes the forecast: the tag the client holds no longer matches.
    await send(service, [fareEvent({ observedAt: '2016-04-03T09:00:00Z', price: 55 })]);
    const changed = await conditional(service, etag);
    expect(changed.status).toBe(200);
    const newTag = changed.headers.get('etag');
    expect(newTag).not.toBe(etag);
    expect(JSON.parse(await changed.text())).toMatchObject({ currentPrice: 55 });
    expect((await conditional(service, newTag!)).status).toBe(304);
  });

  it('tags forecasts computed on read too, and never answers 304 for a series it has no forecast of', async () => {
    const provider = createSwappableProvider(undefined);
    const service = makeForecastService(provider);
    await send(service, [fareEvent({ observedAt: '2016-04-01T09:00:00Z', price: 70 })]);
    expect((await conditional(service, '*')).status).toBe(503);
    provider.swap(createModelDouble({ version: 'b' }));
    const computed = await read(service);
    const etag = computed.res.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]{27}"$/);
    expect((await conditional(service, etag)).status).toBe(304);
    const unknown = await service.app.request(PATH.replace('2016-04-20', '2016-04-22'), { headers: { 'if-none-match': '*' } });
    expect(unknown.status).toBe(404);
  });
});
