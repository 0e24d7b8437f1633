import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { daysBeforeDeparture } from '../../src/events/fare-event.js';
import { ForecastSchema } from '../../src/http/forecast.js';
import type { FareModel } from '../../src/model/predictor.js';
import { createStaticModelProvider } from '../../src/model/provider.js';
import { createTinyModel } from '../../src/model/testing.js';
import type { Service } from '../../src/service.js';
import { fareEvent, get, post, type FareEventBody } from '../helpers/index.js';
import { closeForecastServices, createModelDouble, createSwappableProvider, makeForecastService } from '../helpers/forecast.js';
import { sampleEvents } from '../helpers/sample.js';

afterEach(closeForecastServices);

let tiny: FareModel;
let tinyB: FareModel;
beforeAll(async () => {
  tiny = await createTinyModel({ version: 'tiny-a', seed: 1 });
  tinyB = await createTinyModel({ version: 'tiny-b', seed: 2 });
});

/** A real slice of the sample: one route's departures in the second half of March 2016. */
const slice = () => sampleEvents({ routes: ['CRL-OTP'], fromDeparture: '2016-03-15', toDeparture: '2016-03-31' });

async function send(service: Service, events: unknown[], chunk = 10_000): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    const res = await post(service.app, events.slice(i, i + chunk), { wait: 'true' });
    expect(res.status).toBe(202);
    expect((await res.json()).pending).toBe(0);
  }
}

const forecastPath = (origin: string, destination: string, departureDate: string) =>
  `/v1/forecast?origin=${origin}&destination=${destination}&departureDate=${departureDate}`;

const isCents = (v: number) => Math.round(v * 100) / 100 === v;

/** The latest observation of each series in `events`. */
function latestBySeries(events: FareEventBody[]): Map<string, { observedAt: string; price: number; count: number }> {
  const out = new Map<string, { observedAt: string; price: number; count: number }>();
  for (const e of events) {
    const key = `${e.origin}-${e.destination}-${e.departureDate}`;
    const observedAt = new Date(Date.parse(e.observedAt as string)).toISOString();
    const seen = out.get(key);
    if (!seen || observedAt > seen.observedAt) out.set(key, { observedAt, price: e.price as number, count: (seen?.count ?? 0) + 1 });
    else seen.count++;
  }
  return out;
}

/** Every invariant of the public contract that can be checked from one response. */
function expectWellFormed(f: any): void {
  // Every documented field is there with its documented type.
  const parsed = ForecastSchema.strict().safeParse(f);
  expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  expect(f.expectedLowestPrice).toBeLessThanOrEqual(f.currentPrice);
  expect(f.lowestPriceRange.low).toBeLessThanOrEqual(f.expectedLowestPrice);
  expect(f.expectedLowestPrice).toBeLessThanOrEqual(f.lowestPriceRange.high);
  expect(f.lowestPriceRange.high).toBeLessThanOrEqual(f.currentPrice);
  expect(f.confidence).toBeGreaterThanOrEqual(0.5);
  expect(f.confidence).toBeLessThanOrEqual(1);
  expect(f.recommendation).toBe(f.probabilityCheaperLater > 0.5 ? 'wait' : 'buy');
  expect(f.confidence).toBeCloseTo(f.recommendation === 'wait' ? f.probabilityCheaperLater : 1 - f.probabilityCheaperLater, 6);
  for (const money of [f.currentPrice, f.expectedLowestPrice, f.lowestPriceRange.low, f.lowestPriceRange.high, ...f.outlook.map((o: any) => o.expectedPrice)]) {
    expect(isCents(money)).toBe(true);
  }
  expect(f.daysBefore).toBe(daysBeforeDeparture({ observedAt: f.asOf, departureDate: f.departureDate }));
  expect(f.outlook.map((o: any) => o.daysBefore)).toEqual(Array.from({ length: Math.max(0, f.daysBefore) }, (_, i) => f.daysBefore - 1 - i));
  if (f.typicalPriceRange) {
    expect(f.typicalPriceRange.low).toBeLessThanOrEqual(f.typicalPriceRange.high);
    const level = f.currentPrice < f.typicalPriceRange.low ? 'low' : f.currentPrice > f.typicalPriceRange.high ? 'high' : 'typical';
    expect(f.priceLevel).toBe(level);
  } else {
    expect(f.priceLevel).toBeNull();
  }
  // History: in time order, ending with the observation the forecast is as of.
  const times = f.history.map((h: any) => h.observedAt);
  expect([...times].sort()).toEqual(times);
  expect(f.history.at(-1)).toEqual({ observedAt: f.asOf, price: f.currentPrice });
}

describe('GET /v1/forecast', () => {
  it('answers every field of the contract, well-formed and consistent, for every series of a real route', async () => {
    const service = makeForecastService(createStaticModelProvider(tiny));
    const events = slice();
    await send(service, events);
    const latest = latestBySeries(events);
    expect(latest.size).toBeGreaterThan(10);
    for (const [series, last] of latest) {
      const [origin, destination, ...date] = series.split('-');
      const res = await service.app.request(forecastPath(origin, destination, date.join('-')));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const f = await res.json();
      expectWellFormed(f);
      expect(f).toMatchObject({ origin, destination, departureDate: date.join('-'), currency: 'EUR', asOf: last.observedAt, currentPrice: last.price });
      expect(f.history).toHaveLength(last.count);
      expect(f.model).toEqual({ version: 'tiny-a', trainedAt: tiny.trainedAt });
    }
  });

  it('reflects an event once POST ?wait=true returns: asOf is its observedAt', async () => {
    const service = makeForecastService(createStaticModelProvider(tiny));
    await send(service, [fareEvent({ observedAt: '2016-04-01T09:00:00Z', price: 70 })]);
    const first = await get(service.app, forecastPath('BCN', 'BUD', '2016-04-20'));
    expect(first.body).toMatchObject({ asOf: '2016-04-01T09:00:00.000Z', currentPrice: 70, daysBefore: 19 });

    await send(service, [fareEvent({ observedAt: '2016-04-03T10:30:00+02:00', price: 55.5 })]);
    const second = await get(service.app, forecastPath('bcn', 'bud', '2016-04-20'));
    expect(second.status).toBe(200);
    expectWellFormed(second.body);
    expect(second.body).toMatchObject({ asOf: '2016-04-03T08:30:00.000Z', currentPrice: 55.5, daysBefore: 17 });
    expect(second.body.history).toEqual([
      { observedAt: '2016-04-01T09:00:00.000Z', price: 70 },
      { observedAt: '2016-04-03T08:30:00.000Z', price: 55.5 },
    ]);
  });

  it('serves a late event’s price in the history at once, while asOf stays on the newest observation', async () => {
    const service = makeForecastService(createStaticModelProvider(tiny));
    await send(service, [fareEvent({ observedAt: '2016-04-03T09:00:00Z', price: 70 })]);
    const path = forecastPath('BCN', 'BUD', '2016-04-20');
    // Read twice: the second answer comes from the rendered-response cache.
    expect((await get(service.app, path)).body.history).toHaveLength(1);
    expect((await get(service.app, path)).body.history).toHaveLength(1);
    await send(service, [fareEvent({ observedAt: '2016-04-01T09:00:00Z', price: 50 })]);
    const after = (await get(service.app, path)).body;
    expect(after).toMatchObject({ asOf: '2016-04-03T09:00:00.000Z', currentPrice: 70 });
    expect(after.history).toEqual([
      { observedAt: '2016-04-01T09:00:00.000Z', price: 50 },
      { observedAt: '2016-04-03T09:00:00.000Z', price: 70 },
    ]);
  });

  it('answers 404 for a series with no event yet, in the error envelope', async () => {
    const service = makeForecastService(createStaticModelProvider(tiny));
    await send(service, [fareEvent()]);
    for (const path of [forecastPath('BCN', 'BUD', '2016-04-21'), forecastPath('BUD', 'BCN', '2016-04-20')]) {
      const res = await get(service.app, path);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
      expect(res.body.error.message).toMatch(/no fare event/);
      expect(res.body.error.requestId).toEqual(expect.any(String));
    }
  });

  it('answers 400 for invalid parameters, naming each one, with the event schema’s rules', async () => {
    const service = makeForecastService(createStaticModelProvider(tiny));
    const cases: [string, string[]][] = [
      ['/v1/forecast', ['origin', 'destination', 'departureDate']],
      [forecastPath('BC', 'BUD', '2016-04-20'), ['origin']],
      [forecastPath('BCN', 'B1D', '2016-04-20'), ['destination']],
      [forecastPath('BCN', 'BUD', '2016-02-30'), ['departureDate']],
      [forecastPath('BCN', 'BUD', '20-04-2016'), ['departureDate']],
      [forecastPath('BCN', 'bcn', '2016-04-20'), ['destination']],
    ];
    for (const [path, fields] of cases) {
      const res = await get(service.app, path);
      expect(res.status, path).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.issues.map((i: any) => i.path).sort()).toEqual([...fields].sort());
    }
    const missing = await get(service.app, '/v1/forecast?origin=BCN&departureDate=2016-04-20');
    expect(missing.body.error.issues.map((i: any) => i.message)).toEqual(['destination is required']);
  });

  it('answers 503 while no model is loaded, and forecasts once one is', async () => {
    const provider = createSwappableProvider(undefined);
    const service = makeForecastService(provider);
    await send(service, [fareEvent()]);
    const res = await get(service.app, forecastPath('BCN', 'BUD', '2016-04-20'));
    expect(res.status).toBe(503);
    expect(res.body.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/no model is loaded/) });
    // An unknown series is still 404: the service knows it has no event for it.
    expect((await get(service.app, forecastPath('BCN', 'BUD', '2016-04-22'))).status).toBe(404);

    // Its events arrived before any model: the forecast is computed when asked.
    provider.swap(tiny);
    const ok = await get(service.app, forecastPath('BCN', 'BUD', '2016-04-20'));
    expect(ok.status).toBe(200);
    expectWellFormed(ok.body);
    expect(ok.body).toMatchObject({ asOf: '2016-04-01T09:00:00.000Z', model: { version: 'tiny-a' } });
  });

  it('never mixes two models in one response while the model is swapped between concurrent requests', async () => {
    const provider = createSwappableProvider(undefined);
    const service = makeForecastService(provider);
    // Events arrive while no model serves, so every request computes its forecast with the model it took.
    const events = slice();
    await send(service, events);
    const series = [...latestBySeries(events).keys()].slice(0, 8);
    const paths = series.map((s) => forecastPath(s.slice(0, 3), s.slice(4, 7), s.slice(8)));

    const reference = new Map<string, string>();
    for (const model of [tiny, tinyB]) {
      provider.swap(model);
      for (const path of paths) reference.set(`${model.version} ${path}`, JSON.stringify((await get(service.app, path)).body));
    }
    expect(reference.get(`tiny-a ${paths[0]}`)).not.toBe(reference.get(`tiny-b ${paths[0]}`));

    const requests: Promise<{ path: string; body: any }>[] = [];
    for (let i = 0; i < 400; i++) {
      const path = paths[i % paths.length];
      provider.swap(i % 3 === 0 ? tinyB : tiny);
      requests.push(Promise.resolve(service.app.request(path)).then(async (res) => ({ path, body: await res.json() })));
      if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const seen = new Set<string>();
    for (const { path, body } of await Promise.all(requests)) {
      seen.add(body.model.version);
      expect(JSON.stringify(body)).toBe(reference.get(`${body.model.version} ${path}`));
    }
    expect(seen).toEqual(new Set(['tiny-a', 'tiny-b']));
  });

  it('serves stored forecasts whose model matches their values while predict runs under swaps', async () => {
    const a = createModelDouble({ version: 'a', bias: -3, medianRatio: 0.95 });
    const b = createModelDouble({ version: 'b', bias: 3, medianRatio: 0.75 });
    const provider = createSwappableProvider(a);
    const service = makeForecastService(provider);
    // In time order and in small requests, so the forecast is rewritten many times while it is read.
    const events = slice().sort((x, y) => Date.parse(x.observedAt as string) - Date.parse(y.observedAt as string));
    let reads = 0;
    let checked = 0;
    const ingest = send(service, events, 300);
    let done = false;
    void ingest.finally(() => (done = true));
    while (!done) {
      provider.swap(reads % 2 ? a : b);
      // Yield to timers too, so the runtime keeps processing between reads.
      await new Promise((resolve) => setTimeout(resolve, 1));
      const res = await service.app.request(forecastPath('CRL', 'OTP', '2016-03-20'));
      reads++;
      if (res.status !== 200) continue;
      const f = await res.json();
      expect(f.recommendation).toBe(f.model.version === 'a' ? 'buy' : 'wait');
      // Model a says buy, so it expects today's price as the lowest, whatever its median ratio.
      expect(f.expectedLowestPrice).toBe(Math.round(f.currentPrice * (f.model.version === 'a' ? 1 : 0.75) * 100) / 100);
      checked++;
    }
    await ingest;
    expect(checked).toBeGreaterThan(5);
  });

  it('requires a read key when the service is configured so', async () => {
    const key = 'reader-key-0123456789';
    const service = makeForecastService(createStaticModelProvider(tiny), {
      config: { FARESIGHT_API_KEYS: `${key}:read,writer-key-0123456789:write`, FARESIGHT_REQUIRE_KEY_FOR_READS: 'true' },
    });
    const res = await service.app.request(forecastPath('BCN', 'BUD', '2016-04-20'));
    expect(res.status).toBe(401);
    const withKey = await service.app.request(forecastPath('BCN', 'BUD', '2016-04-20'), { headers: { authorization: `Bearer ${key}` } });
    expect(withKey.status).toBe(404);
    expect((await service.app.request('/v1/routes')).status).toBe(401);
  });
});

describe('GET /v1/routes and departures', () => {
  it('lists routes with their counts, and each route’s departures with the latest forecast in brief', async () => {
    const service = makeForecastService(createStaticModelProvider(tiny));
    const events = [...slice(), ...sampleEvents({ routes: ['MMX-SKP'], fromDeparture: '2016-03-25', toDeparture: '2016-03-27' })];
    await send(service, events);
    const { status, body } = await get(service.app, '/v1/routes');
    expect(status).toBe(200);
    const crl = latestBySeries(events.filter((e) => e.origin === 'CRL'));
    const mmx = latestBySeries(events.filter((e) => e.origin === 'MMX'));
    const latestOf = (m: ReturnType<typeof latestBySeries>) => [...m.values()].map((v) => v.observedAt).sort().at(-1);
    expect(body.routes).toEqual([
      {
        origin: 'CRL',
        destination: 'OTP',
        currency: 'EUR',
        series: crl.size,
        observations: events.filter((e) => e.origin === 'CRL').length,
        forecasts: crl.size,
        latestObservedAt: latestOf(crl),
        firstDepartureDate: '2016-03-15',
        lastDepartureDate: '2016-03-31',
      },
      {
        origin: 'MMX',
        destination: 'SKP',
        currency: 'SEK',
        series: mmx.size,
        observations: events.filter((e) => e.origin === 'MMX').length,
        forecasts: mmx.size,
        latestObservedAt: latestOf(mmx),
        firstDepartureDate: '2016-03-25',
        lastDepartureDate: '2016-03-27',
      },
    ]);

    const departures = await get(service.app, '/v1/routes/crl-otp/departures?from=2016-03-20&to=2016-03-22');
    expect(departures.status).toBe(200);
    expect(departures.body.origin).toBe('CRL');
    expect(departures.body.departures.map((d: any) => d.departureDate)).toEqual(['2016-03-20', '2016-03-21', '2016-03-22']);
    for (const d of departures.body.departures) {
      const full = (await get(service.app, forecastPath('CRL', 'OTP', d.departureDate))).body;
      expect(d).toEqual({
        departureDate: full.departureDate,
        series: `CRL-OTP-${full.departureDate}`,
        currency: 'EUR',
        observations: full.history.length,
        lastObservedAt: full.asOf,
        latestPrice: full.currentPrice,
        forecast: {
          asOf: full.asOf,
          recommendation: full.recommendation,
          confidence: full.confidence,
          probabilityCheaperLater: full.probabilityCheaperLater,
          expectedLowestPrice: full.expectedLowestPrice,
          priceLevel: full.priceLevel,
          modelVersion: 'tiny-a',
        },
      });
    }
    const all = await get(service.app, '/v1/routes/CRL-OTP/departures');
    expect(all.body.departures).toHaveLength(crl.size);
    expect((await get(service.app, '/v1/routes/CRL-OTP/departures?limit=2')).body.departures).toHaveLength(2);
    expect((await get(service.app, '/v1/routes/WAW-LTN/departures')).body.departures).toEqual([]);
  });

  it('shows departures without a forecast while no model is loaded', async () => {
    const service = makeForecastService(createSwappableProvider(undefined));
    await send(service, [fareEvent({ price: 42 })]);
    const { body } = await get(service.app, '/v1/routes/BCN-BUD/departures');
    expect(body.departures).toMatchObject([{ departureDate: '2016-04-20', latestPrice: 42, observations: 1, forecast: null }]);
    expect((await get(service.app, '/v1/routes')).body.routes).toMatchObject([{ origin: 'BCN', forecasts: 0, series: 1 }]);
  });

  it('answers 400 for a malformed route or date range', async () => {
    const service = makeForecastService(createStaticModelProvider(tiny));
    for (const path of [
      '/v1/routes/BCNBUD/departures',
      '/v1/routes/BCN-BUD/departures?from=2016-02-30',
      '/v1/routes/BCN-BUD/departures?from=2016-04-02&to=2016-04-01',
      '/v1/routes/BCN-BUD/departures?limit=0',
    ]) {
      const res = await get(service.app, path);
      expect(res.status, path).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
  });
});
