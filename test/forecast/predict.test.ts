import { afterEach, describe, expect, it } from 'vitest';
import { FORECAST_UPDATED } from '../../src/events/catalog.js';
import type { ForecastUpdated } from '../../src/forecast/change.js';
import type { StoredForecast } from '../../src/forecast/types.js';
import type { Service } from '../../src/service.js';
import { fareEvent, manySeriesEvents, post } from '../helpers/index.js';
import { closeForecastServices, createModelDouble, createSwappableProvider, makeForecastService } from '../helpers/forecast.js';

afterEach(closeForecastServices);

function storedForecasts(service: Service): Map<string, StoredForecast> {
  const rows = service.database.sqlite.prepare('SELECT series, payload FROM forecasts').all() as { series: string; payload: string }[];
  return new Map(rows.map((r) => [r.series, JSON.parse(r.payload) as StoredForecast]));
}

function updates(service: Service): ForecastUpdated[] {
  return (service.database.sqlite.prepare('SELECT payload FROM event_log WHERE type = ? ORDER BY seq').all(FORECAST_UPDATED) as { payload: string }[]).map(
    (r) => JSON.parse(r.payload) as ForecastUpdated,
  );
}

async function send(service: Service, events: unknown[]): Promise<void> {
  const res = await post(service.app, events, { wait: 'true' });
  expect(res.status).toBe(202);
  expect((await res.json()).pending).toBe(0);
}

describe('predict', () => {
  it('predicts each batch in one call, for the latest observation of each series only', async () => {
    const model = createModelDouble({ version: 'a' });
    const service = makeForecastService(createSwappableProvider(model));
    const events = manySeriesEvents(400, 20);
    await send(service, events);

    const rows = model.calls.reduce((a, b) => a + b, 0);
    // One row per series per batch, never one call per event.
    expect(model.calls.length).toBeLessThanOrEqual(3);
    expect(rows).toBeLessThanOrEqual(20 * model.calls.length);

    const stored = storedForecasts(service);
    expect(stored.size).toBe(20);
    for (const [series, forecast] of stored) {
      const latest = events
        .filter((e) => `BCN-BUD-${e.departureDate}` === series)
        .map((e) => new Date(Date.parse(e.observedAt as string)).toISOString())
        .sort()
        .at(-1);
      expect(forecast.asOf).toBe(latest);
    }
  });

  it('never lets a late event replace the forecast of a newer observation', async () => {
    const service = makeForecastService(createSwappableProvider(createModelDouble({ version: 'a' })));
    await send(service, [fareEvent({ observedAt: '2016-04-02T09:00:00Z', price: 80 })]);
    await send(service, [fareEvent({ observedAt: '2016-04-01T09:00:00Z', price: 40 })]);
    const forecast = storedForecasts(service).get('BCN-BUD-2016-04-20');
    expect(forecast?.asOf).toBe('2016-04-02T09:00:00.000Z');
    expect(forecast?.currentPrice).toBe(80);
    // The late price is still part of the series' history.
    expect(service.functionDeps.series.history('BCN-BUD-2016-04-20')?.map((p) => p.p)).toEqual([40, 80]);

    // Within one batch too: the newest observation wins, whatever the order sent.
    await send(service, [
      fareEvent({ observedAt: '2016-04-05T09:00:00Z', price: 90 }),
      fareEvent({ observedAt: '2016-04-03T09:00:00Z', price: 30 }),
    ]);
    expect(storedForecasts(service).get('BCN-BUD-2016-04-20')).toMatchObject({ asOf: '2016-04-05T09:00:00.000Z', currentPrice: 90 });
  });

  it('stores nothing while no model is loaded', async () => {
    const provider = createSwappableProvider(undefined);
    const service = makeForecastService(provider);
    await send(service, manySeriesEvents(30, 3));
    expect(storedForecasts(service).size).toBe(0);
    expect(updates(service)).toHaveLength(0);

    provider.swap(createModelDouble({ version: 'late' }));
    await send(service, [fareEvent({ departureDate: '2016-06-01', observedAt: '2016-03-05T00:00:00Z', price: 45 })]);
    expect([...storedForecasts(service).keys()]).toEqual(['BCN-BUD-2016-06-01']);
  });

  it('emits forecast.updated for a first forecast, a flipped recommendation, or a moved expected lowest price', async () => {
    const provider = createSwappableProvider(createModelDouble({ version: 'buy', bias: -2, medianRatio: 0.9 }));
    const service = makeForecastService(provider);
    await send(service, [fareEvent({ observedAt: '2016-04-01T09:00:00Z', price: 100 })]);
    expect(updates(service)).toMatchObject([{ reasons: ['first'], recommendation: 'buy', previous: null, modelVersion: 'buy' }]);

    // Same model, same price: the forecast is refreshed but nothing meaningful changed.
    await send(service, [fareEvent({ observedAt: '2016-04-02T09:00:00Z', price: 100 })]);
    expect(updates(service)).toHaveLength(1);
    expect(storedForecasts(service).get('BCN-BUD-2016-04-20')?.asOf).toBe('2016-04-02T09:00:00.000Z');

    // A price change that moves the expected lowest price by more than 1% and one unit (a buy
    // expects today's price as the lowest, whatever the quantile head says).
    await send(service, [fareEvent({ observedAt: '2016-04-03T09:00:00Z', price: 110 })]);
    expect(updates(service).at(-1)).toMatchObject({
      reasons: ['expected_lowest_price'],
      expectedLowestPrice: 110,
      previous: { recommendation: 'buy', expectedLowestPrice: 100 },
    });

    provider.swap(createModelDouble({ version: 'wait', bias: 2, medianRatio: 0.9 }));
    await send(service, [fareEvent({ observedAt: '2016-04-04T09:00:00Z', price: 110 })]);
    // Waiting, it now expects a lower price too: 99 instead of today's 110.
    expect(updates(service).at(-1)).toMatchObject({
      reasons: ['recommendation', 'expected_lowest_price'],
      recommendation: 'wait',
      expectedLowestPrice: 99,
      previous: { recommendation: 'buy', modelVersion: 'buy' },
      modelVersion: 'wait',
    });
    expect(updates(service)).toHaveLength(3);
  });

  it('uses one model per batch even when the model is swapped while events flow', async () => {
    const a = createModelDouble({ version: 'a', bias: -3, medianRatio: 0.9 });
    const b = createModelDouble({ version: 'b', bias: 3, medianRatio: 0.7 });
    const provider = createSwappableProvider(a);
    const service = makeForecastService(provider);
    let swaps = 0;
    const swapper = setInterval(() => {
      swaps++;
      provider.swap(provider.current() === a ? b : a);
    }, 1);
    try {
      for (let round = 0; round < 10; round++) {
        // The interval can fire an even number of times per batch wait; rounds also alternate the model.
        provider.swap(round % 2 ? b : a);
        const events = manySeriesEvents(300, 50).map((e) => ({
          ...e,
          observedAt: new Date(Date.parse(e.observedAt as string) + round * 3_600_000).toISOString(),
        }));
        await send(service, events);
      }
    } finally {
      clearInterval(swapper);
    }
    expect(swaps).toBeGreaterThan(0);
    const stored = storedForecasts(service);
    expect(stored.size).toBe(50);
    for (const f of stored.values()) {
      // Model a says buy, so it expects today's price as the lowest, whatever its median ratio.
      const ratio = f.model.version === 'a' ? 1 : 0.7;
      expect(f.recommendation).toBe(f.model.version === 'a' ? 'buy' : 'wait');
      expect(f.expectedLowestPrice).toBe(Math.round(f.currentPrice * ratio * 100) / 100);
    }
    for (const u of updates(service)) expect(u.recommendation).toBe(u.modelVersion === 'a' ? 'buy' : 'wait');
    // Both models served some batches.
    expect(a.calls.length).toBeGreaterThan(0);
    expect(b.calls.length).toBeGreaterThan(0);
  });
});
