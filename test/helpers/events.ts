/** Builders of fare events as a client would send them. */
import { pricePointsOf, type SeriesState } from '../../src/model/features.js';

export type FareEventBody = Record<string, unknown>;

const BASE: FareEventBody = {
  origin: 'BCN',
  destination: 'BUD',
  departureDate: '2016-04-20',
  observedAt: '2016-04-01T09:00:00Z',
  price: 69.99,
  currency: 'EUR',
  carrier: 'W6',
  flightNumbers: ['2376'],
};

/** One valid fare event; `undefined` in overrides removes a field. */
export function fareEvent(overrides: FareEventBody = {}): FareEventBody {
  const event: FareEventBody = { ...BASE, ...overrides };
  for (const [key, value] of Object.entries(overrides)) if (value === undefined) delete event[key];
  return event;
}

const HOUR_MS = 3_600_000;

/**
 * `n` valid events of one series, observed one hour apart from `start`,
 * with prices that change so each has distinct content.
 */
export function fareSeries(
  n: number,
  options: { origin?: string; destination?: string; departureDate?: string; start?: string; basePrice?: number } = {},
): FareEventBody[] {
  const start = Date.parse(options.start ?? '2016-03-01T00:00:00Z');
  return Array.from({ length: n }, (_, i) =>
    fareEvent({
      origin: options.origin ?? 'BCN',
      destination: options.destination ?? 'BUD',
      departureDate: options.departureDate ?? '2016-04-20',
      observedAt: new Date(start + i * HOUR_MS).toISOString(),
      price: Math.round(((options.basePrice ?? 50) + (i % 37)) * 100) / 100,
    }),
  );
}

/** `n` valid events spread over `seriesCount` series (different departure dates). */
export function manySeriesEvents(n: number, seriesCount: number): FareEventBody[] {
  return Array.from({ length: n }, (_, i) => {
    const s = i % seriesCount;
    const departure = new Date(Date.UTC(2016, 5, 1) + s * 86_400_000).toISOString().slice(0, 10);
    return fareEvent({
      departureDate: departure,
      observedAt: new Date(Date.UTC(2016, 2, 1) + Math.floor(i / seriesCount) * 60_000).toISOString(),
      price: 40 + (i % 50),
    });
  });
}

/** Events as NDJSON, one per line. */
export function ndjson(events: readonly unknown[]): string {
  return events.map((e) => JSON.stringify(e)).join('\n') + '\n';
}

/** The state of series BCN-BUD-2016-04-20 with these prices, observed an hour apart from 2016-04-01. */
export function seriesState(prices: readonly number[]): SeriesState {
  return {
    key: 'BCN-BUD-2016-04-20',
    origin: 'BCN',
    destination: 'BUD',
    departureDate: '2016-04-20',
    currency: 'EUR',
    points: pricePointsOf(prices.flatMap((p, i) => [Date.UTC(2016, 3, 1) + i * 3_600_000, p])),
  };
}
