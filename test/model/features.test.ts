import { describe, expect, it } from 'vitest';
import type { FareEvent } from '../../src/events/fare-event.js';
import { emptyRouteStats, emptySeries, FEATURE_NAMES, observe, pointList, routeStatsKeyOf, routeStatsKeyOfRow, type RouteStats, type SeriesState } from '../../src/model/features.js';

const column = (name: (typeof FEATURE_NAMES)[number]) => FEATURE_NAMES.indexOf(name);

function fare(departureDate: string, day: number, price: number): FareEvent {
  return {
    origin: 'AAA',
    destination: 'BBB',
    departureDate,
    observedAt: `2016-01-${String(day).padStart(2, '0')}T09:00:00.000Z`,
    price,
    currency: 'EUR',
  };
}

/** Replays events through observe() as extract-features does, keeping series and route statistics. */
function replay(events: FareEvent[], stats: RouteStats = emptyRouteStats(routeStatsKeyOf(events[0]))) {
  const series = new Map<string, SeriesState>();
  const rows = events.map((event) => {
    const key = event.departureDate;
    if (!series.has(key)) series.set(key, emptySeries(event));
    return observe(series.get(key)!, stats, event);
  });
  return { rows, stats };
}

describe('route-wide drop and rise rates', () => {
  // Ten departures, each observed on days 1–20, all falling in price: a sale on the route.
  const falling = Array.from({ length: 20 }, (_, d) =>
    Array.from({ length: 10 }, (_, k) => fare(`2016-02-${String(10 + k).padStart(2, '0')}`, d + 1, 200 - 5 * d)),
  ).flat();
  const rising = falling.map((e, i) => ({ ...e, price: 100 + 5 * Math.floor(i / 10) }));

  it('rise on a route whose departures keep getting cheaper, and start from a neutral value', () => {
    const { rows } = replay(falling);
    expect(rows[0].vector[column('route_wide_drop_rate')]).toBe(0.25);
    const last = rows[rows.length - 1].vector;
    expect(last[column('route_wide_drop_rate')]).toBeGreaterThan(0.8);
    expect(last[column('route_wide_drop_rate_slow')]).toBeGreaterThan(0.25);
    // The slow rate remembers more of the past: it moves less.
    expect(last[column('route_wide_drop_rate_slow')]).toBeLessThan(last[column('route_wide_drop_rate')]);
    expect(last[column('route_wide_rise_rate')]).toBeLessThan(0.05);
  });

  it('count rises as rises', () => {
    const last = replay(rising).rows.at(-1)!.vector;
    expect(last[column('route_wide_rise_rate')]).toBeGreaterThan(0.8);
    expect(last[column('route_wide_drop_rate')]).toBeLessThan(0.05);
  });

  it('survive the route statistics being stored as their buckets (JSON) and read back', () => {
    const { stats } = replay(falling.slice(0, 150));
    const stored: RouteStats = { key: stats.key, buckets: JSON.parse(JSON.stringify(stats.buckets)) };
    const next = falling.slice(150);
    // The series' histories are part of the state too: replay them into the stored copy's series.
    const direct = replay(falling).rows.slice(150).map((r) => r.vector);
    const series = new Map<string, SeriesState>();
    for (const event of falling.slice(0, 150)) {
      if (!series.has(event.departureDate)) series.set(event.departureDate, emptySeries(event));
      observe(series.get(event.departureDate)!, emptyRouteStats(stats.key), event);
    }
    const resumed = next.map((event) => observe(series.get(event.departureDate)!, stored, event).vector);
    expect(resumed).toEqual(direct);
  });
});

describe('a series’ points', () => {
  it('stay in time order as they grow past their room, late events landing in place', () => {
    const series = emptySeries(fare('2016-02-20', 1, 50));
    const stats = emptyRouteStats(routeStatsKeyOf(fare('2016-02-20', 1, 50)));
    // Days 2, 4, …, 40 in order, then the odd days 1, 3, …, 39 late: 40 points, several regrowths.
    const days = [...Array.from({ length: 20 }, (_, i) => 2 * i + 2), ...Array.from({ length: 20 }, (_, i) => 2 * i + 1)];
    const observedAt = (day: number) => new Date(Date.UTC(2016, 0, day, 9)).toISOString();
    const rows = days.map((day) => observe(series, stats, { ...fare('2016-02-20', 1, 100 + day), observedAt: observedAt(day) }));
    expect(pointList(series.points)).toEqual(Array.from({ length: 40 }, (_, i) => ({ t: Date.parse(observedAt(i + 1)), p: 101 + i })));
    // The late day 1 is the series' first point: its features see no earlier price.
    const late = rows[days.indexOf(1)];
    expect(late.vector[column('observations_log')]).toBeCloseTo(Math.log1p(1));
    expect(late.vector[column('price_vs_first')]).toBe(0);
    // Day 39 arrives after day 40 but sees only the 39 points up to it, the highest of them its own.
    const day39 = rows[days.indexOf(39)];
    expect(day39.vector[column('observations_log')]).toBeCloseTo(Math.log1p(39));
    expect(day39.vector[column('price_vs_max')]).toBe(0);
  });
});

describe('routeStatsKeyOfRow', () => {
  it('names the statistics routeStatsKeyOf names for the observation the row describes', () => {
    const event = { ...fare('2016-02-20', 3, 42), currency: 'PLN' };
    const row = observe(emptySeries(event), emptyRouteStats(routeStatsKeyOf(event)), event);
    expect(routeStatsKeyOfRow(row)).toBe(routeStatsKeyOf(event));
    expect(routeStatsKeyOfRow(row)).toBe('AAA-BBB:PLN');
  });
});
