import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteForecastStore } from '../../src/db/forecast-store.js';
import { createSqliteSeriesStore } from '../../src/db/stores.js';
import { outlookCurveOf, outlookPricesOf } from '../../src/forecast/outlook.js';
import type { ForecastRecord } from '../../src/forecast/types.js';
import { emptyRouteStats, emptySeries, observe } from '../../src/model/features.js';
import { cleanupTemp, nextTurn, openTestDatabase, seriesState, tempDbPath } from '../helpers/index.js';

const open: Database.Database[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
  cleanupTemp();
});

/** A second connection to the same file, as another process would hold it. */
function otherProcess(path: string): Database.Database {
  const db = new Database(path);
  open.push(db);
  return db;
}

const SERIES = 'BCN-BUD-2016-04-20';

function record(asOf: string, price: number): ForecastRecord {
  return {
    series: SERIES,
    asOfMs: Date.parse(asOf),
    outlookCurve: outlookCurveOf({ daysBefore: 1, currentPrice: price, routeStats: undefined }),
    core: {
      origin: 'BCN',
      destination: 'BUD',
      departureDate: '2016-04-20',
      asOf,
      daysBefore: 19,
      currency: 'EUR',
      currentPrice: price,
      recommendation: 'buy',
      confidence: 0.6,
      probabilityCheaperLater: 0.4,
      expectedLowestPrice: price,
      lowestPriceRange: { low: price, high: price },
      priceLevel: null,
      typicalPriceRange: null,
      model: { version: 'm', trainedAt: '2016-03-01T00:00:00.000Z' },
    },
  };
}

describe('the forecast store’s generation', () => {
  it('stays while nothing is written, and moves with every write of this connection, whichever store made it', () => {
    const { sqlite } = openTestDatabase(tempDbPath());
    const forecasts = createSqliteForecastStore(sqlite);
    const series = createSqliteSeriesStore(sqlite);
    const first = forecasts.generation();
    expect(first).toEqual(expect.any(Number));
    forecasts.read(SERIES);
    forecasts.stamp(SERIES);
    expect(forecasts.generation()).toBe(first);

    sqlite.transaction(() => series.save([seriesState([70])]))();
    const afterSeries = forecasts.generation();
    expect(afterSeries).not.toBe(first);
    expect(forecasts.generation()).toBe(afterSeries);

    sqlite.transaction(() => forecasts.save([record('2016-04-01T00:00:00.000Z', 70)]))();
    const afterForecast = forecasts.generation();
    expect(afterForecast).not.toBe(afterSeries);
    expect(forecasts.generation()).toBe(afterForecast);
  });

  it('moves in the next turn of the event loop after another connection commits, and not for its reads', async () => {
    const path = tempDbPath();
    const { sqlite } = openTestDatabase(path);
    const forecasts = createSqliteForecastStore(sqlite);
    sqlite.transaction(() => forecasts.save([record('2016-04-01T00:00:00.000Z', 70)]))();
    const other = otherProcess(path);
    const before = forecasts.generation();
    other.prepare('SELECT * FROM forecasts').all();
    await nextTurn();
    expect(forecasts.generation()).toBe(before);

    other.prepare('UPDATE forecasts SET revision = revision + 1 WHERE series = ?').run(SERIES);
    // The reads of one turn share one look at the other connections' commits.
    expect(forecasts.generation()).toBe(before);
    await nextTurn();
    const after = forecasts.generation();
    expect(after).not.toBe(before);
    expect(forecasts.stamp(SERIES)?.revision).toBe(1);
    await nextTurn();
    expect(forecasts.generation()).toBe(after);
  });

  it('is undefined inside a transaction, and has moved after one that rolled back', () => {
    const { sqlite } = openTestDatabase(tempDbPath());
    const forecasts = createSqliteForecastStore(sqlite);
    const before = forecasts.generation();
    expect(() =>
      sqlite.transaction(() => {
        forecasts.save([record('2016-04-01T00:00:00.000Z', 70)]);
        expect(forecasts.generation()).toBeUndefined();
        throw new Error('roll back');
      })(),
    ).toThrow('roll back');
    expect(forecasts.stamp(SERIES)).toBeUndefined();
    expect(forecasts.generation()).not.toBe(before);
  });

  it('does not move for a save that keeps a newer forecast', () => {
    const { sqlite } = openTestDatabase(tempDbPath());
    const forecasts = createSqliteForecastStore(sqlite);
    sqlite.transaction(() => forecasts.save([record('2016-04-02T00:00:00.000Z', 70)]))();
    const before = forecasts.generation();
    const stamp = forecasts.stamp(SERIES);
    // A late forecast is not stored, so nothing a reader has cached changed.
    sqlite.transaction(() => forecasts.save([record('2016-04-01T00:00:00.000Z', 40)]))();
    expect(forecasts.stamp(SERIES)).toEqual(stamp);
    expect(forecasts.generation()).toBe(before);
  });
});

/** Route statistics from a few departures whose price climbs 1% a day towards departure. */
function climbingRoute() {
  const stats = emptyRouteStats('BCN-BUD:EUR');
  for (let k = 0; k < 8; k++) {
    const departureDate = `2016-05-${String(10 + k).padStart(2, '0')}`;
    const series = emptySeries({ origin: 'BCN', destination: 'BUD', departureDate, observedAt: '', price: 1, currency: 'EUR' });
    for (let d = 80; d >= 0; d--) {
      const observedAt = new Date(Date.parse(`${departureDate}T09:00:00Z`) - d * 86_400_000).toISOString();
      observe(series, stats, { origin: 'BCN', destination: 'BUD', departureDate, observedAt, price: 50 * 1.01 ** (80 - d) + (k % 3), currency: 'EUR' });
    }
  }
  return stats;
}

describe('the stored outlook', () => {
  it('reads back the outlook as computed when the forecast was saved, though the route’s statistics moved since', () => {
    const { sqlite } = openTestDatabase(tempDbPath());
    const forecasts = createSqliteForecastStore(sqlite);
    const stats = climbingRoute();
    const input = { daysBefore: 45, currentPrice: 64.99, routeStats: stats };
    const expected = outlookPricesOf(input);
    expect(new Set(expected).size).toBeGreaterThan(10);
    sqlite.transaction(() => forecasts.save([{ ...record('2016-04-01T00:00:00.000Z', 64.99), outlookCurve: outlookCurveOf(input) }]))();
    // Later fares on the route change its statistics, and so what the outlook would be now.
    const later = emptySeries({ origin: 'BCN', destination: 'BUD', departureDate: '2016-06-01', observedAt: '', price: 1, currency: 'EUR' });
    for (let d = 60; d >= 0; d--) {
      const observedAt = new Date(Date.parse('2016-06-01T09:00:00Z') - d * 86_400_000).toISOString();
      observe(later, stats, { origin: 'BCN', destination: 'BUD', departureDate: '2016-06-01', observedAt, price: 300 - d, currency: 'EUR' });
    }
    expect(outlookPricesOf(input)).not.toEqual(expected);
    expect(forecasts.read(SERIES)?.outlookPrices).toEqual(expected);
    // A few dozen bytes are stored, not 8 per remaining day.
    const row = sqlite.prepare('SELECT length(outlook) AS prices, length(outlook_curve) AS curve FROM forecasts').get() as { prices: number; curve: number };
    expect(row.prices).toBe(0);
    expect(row.curve).toBeLessThanOrEqual(96);
  });

  it('reads the outlook prices of a forecast stored before its curve was', () => {
    const { sqlite } = openTestDatabase(tempDbPath());
    const forecasts = createSqliteForecastStore(sqlite);
    sqlite.transaction(() => forecasts.save([record('2016-04-01T00:00:00.000Z', 70)]))();
    const prices = new Float64Array([71.5, 72, 73.25]);
    sqlite.prepare('UPDATE forecasts SET outlook = ?, outlook_curve = NULL').run(Buffer.from(prices.buffer));
    expect(forecasts.read(SERIES)?.outlookPrices).toEqual(prices);
  });
});
