import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assembleForecast, assembleForecastParts, lowestPriceOf, parseSeriesKey, recommend } from '../../src/forecast/assemble.js';
import { forecastJson } from '../../src/forecast/json.js';
import { meaningfulChanges } from '../../src/forecast/change.js';
import { roundMoney } from '../../src/forecast/money.js';
import { outlookOf, outlookPricesOfCurve } from '../../src/forecast/outlook.js';
import { priceLevelOf } from '../../src/forecast/price-level.js';
import type { ForecastSummary, StoredForecast } from '../../src/forecast/types.js';
import { emptyRouteStats, emptySeries, observe, type FeatureRow, type RouteStats } from '../../src/model/features.js';

const MODEL = { version: 'v1', trainedAt: '2016-03-01T00:00:00.000Z' };

function row(overrides: Partial<FeatureRow> = {}): FeatureRow {
  return {
    series: 'BCN-BUD-2016-04-20',
    route: 'BCN-BUD',
    observedAt: '2016-04-01T09:00:00.000Z',
    daysBefore: 19,
    price: 69.99,
    currency: 'EUR',
    vector: [],
    typicalRange: null,
    ...overrides,
  };
}

/** Route statistics where the price typically rises from `far` (60+ days out) to `near` (last days). */
function routeStatsRising(far: number, near: number): RouteStats {
  const stats = emptyRouteStats('BCN-BUD:EUR');
  let n = 0;
  for (let departure = 0; departure < 40; departure++) {
    const series = emptySeries({ origin: 'BCN', destination: 'BUD', departureDate: dateAfter('2016-03-01', 100 + departure), observedAt: '', price: 1, currency: 'EUR' });
    for (let d = 100; d >= 0; d -= 1) {
      // Log-linear from far to near, with a small alternating wiggle so buckets have spread.
      const price = far * Math.pow(near / far, (100 - d) / 100) * (1 + 0.05 * ((n++ % 3) - 1));
      observe(series, stats, {
        origin: 'BCN',
        destination: 'BUD',
        departureDate: series.departureDate,
        observedAt: new Date(Date.parse(`${series.departureDate}T10:00:00Z`) - d * 86_400_000).toISOString(),
        price: Math.round(price * 100) / 100,
        currency: 'EUR',
      });
    }
  }
  return stats;
}

function dateAfter(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

describe('recommend', () => {
  it('waits when a cheaper price is more likely than not, and reports the probability of being right', () => {
    expect(recommend(0.71)).toEqual({ recommendation: 'wait', confidence: 0.71, probabilityCheaperLater: 0.71 });
    expect(recommend(0.2)).toEqual({ recommendation: 'buy', confidence: 0.8, probabilityCheaperLater: 0.2 });
    expect(recommend(0.5).recommendation).toBe('buy');
  });

  it('keeps confidence in [0.5, 1] and consistent with the probability, for any model output', () => {
    fc.assert(
      fc.property(fc.double({ min: -0.5, max: 1.5, noNaN: true }), (p) => {
        const r = recommend(p);
        expect(r.confidence).toBeGreaterThanOrEqual(0.5);
        expect(r.confidence).toBeLessThanOrEqual(1);
        expect(r.probabilityCheaperLater).toBeGreaterThanOrEqual(0);
        expect(r.probabilityCheaperLater).toBeLessThanOrEqual(1);
        expect(r.recommendation).toBe(r.probabilityCheaperLater > 0.5 ? 'wait' : 'buy');
        const expected = r.recommendation === 'wait' ? r.probabilityCheaperLater : 1 - r.probabilityCheaperLater;
        expect(r.confidence).toBeCloseTo(expected, 4);
      }),
    );
  });
});

describe('lowestPriceOf', () => {
  it('orders low ≤ expected ≤ high ≤ current for any ratios, after rounding to cents', () => {
    const ratio = fc.double({ min: -0.2, max: 1.5, noNaN: true });
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 1_000_000, noNaN: true }), ratio, ratio, ratio, (price, a, b, c) => {
        const current = roundMoney(price);
        const { expectedLowestPrice, lowestPriceRange } = lowestPriceOf(price, { q10: a, q50: b, q90: c });
        expect(lowestPriceRange.low).toBeLessThanOrEqual(expectedLowestPrice);
        expect(expectedLowestPrice).toBeLessThanOrEqual(lowestPriceRange.high);
        expect(lowestPriceRange.high).toBeLessThanOrEqual(current);
        expect(lowestPriceRange.low).toBeGreaterThanOrEqual(0);
        for (const v of [expectedLowestPrice, lowestPriceRange.low, lowestPriceRange.high]) expect(roundMoney(v)).toBe(v);
      }),
    );
  });

  it('gives the ratios in order whatever order the model gave them in, each capped to [0, 1]', () => {
    const ratio = fc.oneof(fc.double({ min: -0.2, max: 1.5, noNaN: true }), fc.constantFrom(0.5, 1, Number.NaN));
    fc.assert(
      fc.property(ratio, ratio, ratio, (a, b, c) => {
        const [low, mid, high] = [a, b, c].map((r) => (Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 1)).sort((x, y) => x - y);
        expect(lowestPriceOf(1000, { q10: a, q50: b, q90: c })).toEqual({
          expectedLowestPrice: roundMoney(1000 * mid),
          lowestPriceRange: { low: roundMoney(1000 * low), high: roundMoney(1000 * high) },
        });
      }),
    );
  });

  it('multiplies the current price by the model’s ratios', () => {
    expect(lowestPriceOf(100, { q10: 0.7, q50: 0.85, q90: 0.95 })).toEqual({
      expectedLowestPrice: 85,
      lowestPriceRange: { low: 70, high: 95 },
    });
  });
});

describe('priceLevelOf', () => {
  it('compares the price with the typical range', () => {
    const range = { low: 50, high: 80 };
    expect(priceLevelOf(49.99, range)).toBe('low');
    expect(priceLevelOf(50, range)).toBe('typical');
    expect(priceLevelOf(80, range)).toBe('typical');
    expect(priceLevelOf(80.01, range)).toBe('high');
    expect(priceLevelOf(60, null)).toBeNull();
  });
});

describe('outlookOf', () => {
  it('has one point per remaining day, in date order down to the departure day', () => {
    const outlook = outlookOf({ daysBefore: 5, currentPrice: 50, routeStats: undefined });
    expect(outlook.map((p) => p.daysBefore)).toEqual([4, 3, 2, 1, 0]);
    // Without route statistics there is no typical movement: the price stays.
    expect(outlook.every((p) => p.expectedPrice === 50)).toBe(true);
    expect(outlookOf({ daysBefore: 0, currentPrice: 50, routeStats: undefined })).toEqual([]);
  });

  it('bends from the current price towards the route’s typical movement', () => {
    const stats = routeStatsRising(40, 120);
    const outlook = outlookOf({ daysBefore: 60, currentPrice: 50, routeStats: stats });
    expect(outlook).toHaveLength(60);
    const prices = outlook.map((p) => p.expectedPrice);
    // Starts near today's price, rises as the route's prices do, and never decreases.
    expect(prices[0]).toBeGreaterThanOrEqual(50);
    expect(prices[0]).toBeLessThan(52);
    for (let i = 1; i < prices.length; i++) expect(prices[i]).toBeGreaterThanOrEqual(prices[i - 1]);
    // On this route prices grow by (120/40)^(60/100) ≈ 1.93× over the last 60 days; far enough
    // ahead the outlook follows the route fully (bucket interpolation leaves a few % of error).
    const routeGrowth = Math.pow(120 / 40, 60 / 100);
    expect(prices[prices.length - 1] / 50).toBeGreaterThan(routeGrowth * 0.9);
    expect(prices[prices.length - 1] / 50).toBeLessThan(routeGrowth * 1.1);
  });
});

describe('assembleForecast', () => {
  it('builds every field of the public forecast from the row, the prediction and the route', () => {
    const stats = routeStatsRising(40, 120);
    const forecast = assembleForecast({
      row: row({ price: 69.994, daysBefore: 19 }),
      prediction: { probabilityCheaperLater: 0.7123456, lowestRatio: { q10: 0.8, q50: 0.9, q90: 0.99 } },
      model: MODEL,
      routeStats: stats,
    });
    expect(forecast).toMatchObject({
      origin: 'BCN',
      destination: 'BUD',
      departureDate: '2016-04-20',
      asOf: '2016-04-01T09:00:00.000Z',
      daysBefore: 19,
      currency: 'EUR',
      currentPrice: 69.99,
      recommendation: 'wait',
      confidence: 0.7123,
      probabilityCheaperLater: 0.7123,
      expectedLowestPrice: 62.99,
      // A cheaper price is 71% likely, under 90%: the interval reaches today's price.
      lowestPriceRange: { low: 56, high: 69.99 },
      model: MODEL,
    });
    expect(forecast.typicalPriceRange).not.toBeNull();
    expect(forecast.priceLevel).toBe(priceLevelOf(69.99, forecast.typicalPriceRange));
    expect(forecast.outlook).toHaveLength(19);
  });

  it('expects no lower price than today\'s when it says buy, even at the rounding of one half', () => {
    for (const probabilityCheaperLater of [0.3, 0.5, 0.50004]) {
      const forecast = assembleForecast({
        row: row(),
        prediction: { probabilityCheaperLater, lowestRatio: { q10: 0.7, q50: 0.85, q90: 0.95 } },
        model: MODEL,
        routeStats: undefined,
      });
      expect(forecast).toMatchObject({
        recommendation: 'buy',
        expectedLowestPrice: 69.99,
        lowestPriceRange: { low: roundMoney(69.99 * 0.7), high: 69.99 },
      });
    }
    const likelyDrop = assembleForecast({
      row: row(),
      prediction: { probabilityCheaperLater: 0.95, lowestRatio: { q10: 0.7, q50: 0.85, q90: 0.95 } },
      model: MODEL,
      routeStats: undefined,
    });
    expect(likelyDrop).toMatchObject({
      recommendation: 'wait',
      expectedLowestPrice: roundMoney(69.99 * 0.85),
      lowestPriceRange: { low: roundMoney(69.99 * 0.7), high: roundMoney(69.99 * 0.95) },
    });
  });

  it('answers buy at the current price on the departure day, whatever the model says', () => {
    const forecast = assembleForecast({
      row: row({ daysBefore: 0, observedAt: '2016-04-20T06:00:00.000Z' }),
      prediction: { probabilityCheaperLater: 0.9, lowestRatio: { q10: 0.5, q50: 0.6, q90: 0.7 } },
      model: MODEL,
      routeStats: undefined,
    });
    expect(forecast).toMatchObject({
      recommendation: 'buy',
      confidence: 1,
      expectedLowestPrice: 69.99,
      lowestPriceRange: { low: 69.99, high: 69.99 },
      outlook: [],
      priceLevel: null,
      typicalPriceRange: null,
    });
  });

  it('falls back to the row’s typical range when the route statistics are missing', () => {
    const forecast = assembleForecast({
      row: row({ typicalRange: { low: 80.123, high: 99.999 } }),
      prediction: { probabilityCheaperLater: 0.1, lowestRatio: { q10: 1, q50: 1, q90: 1 } },
      model: MODEL,
      routeStats: undefined,
    });
    expect(forecast.typicalPriceRange).toEqual({ low: 80.12, high: 100 });
    expect(forecast.priceLevel).toBe('low');
  });

  it('is served as JSON text equal to the assembled object plus history', () => {
    const input = {
      row: row({ price: 71.5 }),
      prediction: { probabilityCheaperLater: 0.3, lowestRatio: { q10: 0.8, q50: 0.9, q90: 0.99 } },
      model: MODEL,
      routeStats: routeStatsRising(40, 120),
    };
    const { core, outlookCurve } = assembleForecastParts(input);
    const outlookPrices = outlookPricesOfCurve(outlookCurve);
    const asOfMs = Date.parse(input.row.observedAt);
    const points = [
      { t: asOfMs - 86_400_000, p: 80 },
      { t: asOfMs, p: 71.5 },
      { t: asOfMs + 3_600_000, p: 60 }, // after asOf: not part of this forecast's history
    ];
    const parsed = JSON.parse(forecastJson(JSON.stringify(core), outlookPrices, new Float64Array(points.flatMap(({ t, p }) => [t, p])), asOfMs));
    expect(parsed).toEqual({
      ...assembleForecast(input),
      history: [
        { observedAt: new Date(asOfMs - 86_400_000).toISOString(), price: 80 },
        { observedAt: input.row.observedAt, price: 71.5 },
      ],
    });
    expect(parsed.outlook).toHaveLength(19);
  });

  it('reads route and date from series keys', () => {
    expect(parseSeriesKey('CRL-OTP-2016-01-31')).toEqual({ origin: 'CRL', destination: 'OTP', departureDate: '2016-01-31' });
    expect(() => parseSeriesKey('CRL-OTP')).toThrow(/series key/);
    for (const bad of ['crl-OTP-2016-01-31', 'CRL-OTP-2016-1-31', 'CRL_OTP-2016-01-31', 'CRL-OTP-2016-01-31x']) {
      expect(() => parseSeriesKey(bad), bad).toThrow(/series key/);
    }
  });
});

describe('meaningfulChanges', () => {
  const previous: ForecastSummary = { asOfMs: 0, recommendation: 'wait', expectedLowestPrice: 100, modelVersion: 'v1' };
  const next = (recommendation: 'buy' | 'wait', expectedLowestPrice: number) =>
    ({ recommendation, expectedLowestPrice }) as StoredForecast;

  it('reports a first forecast, a flip, and a move of the expected lowest price beyond 1% and one unit', () => {
    expect(meaningfulChanges(undefined, next('buy', 10))).toEqual(['first']);
    expect(meaningfulChanges(previous, next('wait', 100))).toEqual([]);
    expect(meaningfulChanges(previous, next('buy', 100))).toEqual(['recommendation']);
    expect(meaningfulChanges(previous, next('wait', 101))).toEqual([]);
    expect(meaningfulChanges(previous, next('wait', 98.5))).toEqual(['expected_lowest_price']);
    expect(meaningfulChanges(previous, next('buy', 120))).toEqual(['recommendation', 'expected_lowest_price']);
    // 1.5% of a cheap fare is less than one unit: noise.
    expect(meaningfulChanges({ ...previous, expectedLowestPrice: 20 }, next('wait', 20.3))).toEqual([]);
  });
});
