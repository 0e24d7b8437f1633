import { describe, expect, it } from 'vitest';
import type { FareEvent } from '../../src/events/fare-event.js';
import { buildDataset, censoredExposure, labelDataset, sortByEventTime } from '../../src/model/dataset.js';
import { bucketOf, FEATURE_COUNT } from '../../src/model/features.js';
import { syntheticFares } from './synthetic.js';

const DAY_MS = 86_400_000;

function fare(departureDate: string, observedDay: string, price: number): FareEvent {
  return { origin: 'AAA', destination: 'BBB', departureDate, observedAt: `${observedDay}T09:00:00.000Z`, price, currency: 'EUR' };
}

/** One series departing 2016-01-10, observed daily from 01-01 with these prices. */
function series(prices: number[]): FareEvent[] {
  return prices.map((p, i) => fare('2016-01-10', `2016-01-${String(1 + i).padStart(2, '0')}`, p));
}

const end = (day: string) => Date.parse(`${day}T23:59:59Z`);

describe('dataset', () => {
  it('replays events into one feature row each, in event-time order', () => {
    const events = sortByEventTime(syntheticFares({ departures: 5 }));
    const ds = buildDataset(events);
    expect(ds.size).toBe(events.length);
    expect(ds.width).toBe(FEATURE_COUNT);
    for (let i = 1; i < ds.size; i++) expect(ds.time[i]).toBeGreaterThanOrEqual(ds.time[i - 1]);
    expect(ds.features.every(Number.isFinite)).toBe(true);
  });

  it('labels a complete series from its whole future', () => {
    // Observed down to 1 day before departure (01-09): complete.
    const ds = buildDataset(series([100, 90, 120, 120, 80, 95, 95, 110, 130]));
    const labels = labelDataset(ds, end('2016-01-31'));
    expect(labels.complete[0]).toBe(1);
    expect(Array.from(labels.cheaperLater)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(labels.lowestRatio[0]).toBeCloseTo(0.8);
    expect(labels.lowestRatio[4]).toBeCloseTo(1);
    expect(labels.lowestRatio[8]).toBeCloseTo(1);
  });

  it('never looks past the window: an open series only has the positives seen so far', () => {
    const prices = [100, 90, 120, 120, 80, 95, 95, 110, 130];
    const ds = buildDataset(series(prices));
    // The window ends on 01-04: the drop to 80 on 01-05 is in the future.
    const labels = labelDataset(ds, end('2016-01-04'));
    expect(labels.complete[0]).toBe(0);
    const cheaper = Array.from(labels.cheaperLater);
    expect(cheaper[0]).toBe(1); // 90 on 01-02 was seen within the window
    expect(cheaper.slice(1, 4).every(Number.isNaN)).toBe(true); // unknown, not "no"
    expect(cheaper.slice(4).every(Number.isNaN)).toBe(true); // observed after the window
    expect(Array.from(labels.lowestRatio).every(Number.isNaN)).toBe(true);
  });

  it('labels at a window end do not change when later events are added', () => {
    const early = syntheticFares({ departures: 20, until: '2016-01-25T00:00:00Z' });
    const all = syntheticFares({ departures: 20 });
    const windowEnd = Date.parse('2016-01-25T00:00:00Z');
    const a = buildDataset(sortByEventTime(early));
    const b = buildDataset(sortByEventTime(all));
    const la = labelDataset(a, windowEnd);
    const lb = labelDataset(b, windowEnd);
    const key = (ds: typeof a, i: number) => `${ds.seriesKeys[ds.series[i]]}@${ds.time[i]}`;
    const byKey = new Map<string, number>();
    for (let i = 0; i < b.size; i++) byKey.set(key(b, i), i);
    let compared = 0;
    for (let i = 0; i < a.size; i++) {
      const j = byKey.get(key(a, i))!;
      expect(Object.is(la.cheaperLater[i], lb.cheaperLater[j])).toBe(true);
      expect(Object.is(la.lowestRatio[i], lb.lowestRatio[j])).toBe(true);
      compared++;
    }
    expect(compared).toBe(a.size);
  });

  it('gives censored rows an exposure that grows with the part of their future observed', () => {
    const events = sortByEventTime(syntheticFares({ departures: 40 }));
    const ds = buildDataset(events);
    const windowEnd = Date.parse('2016-02-10T00:00:00Z');
    const labels = labelDataset(ds, windowEnd);
    const fit = Int32Array.from({ length: ds.size }, (_, i) => i).filter((i) => labels.complete[ds.series[i]] === 1);
    const exposure = censoredExposure(ds, labels, fit, bucketOf);
    let censored = 0;
    for (let i = 0; i < ds.size; i++) {
      if (Number.isNaN(labels.cheaperLater[i]) && ds.time[i] <= windowEnd) {
        censored++;
        expect(exposure[i]).toBeGreaterThanOrEqual(0);
        expect(exposure[i]).toBeLessThan(1);
      } else {
        expect(exposure[i]).toBe(0);
      }
    }
    expect(censored).toBeGreaterThan(0);
    // Within one open series, earlier rows have seen more of their future.
    const open = ds.rowsOfSeries.findIndex((rows, s) => !labels.complete[s] && labels.lastInWindow[s] > 10);
    const rows = ds.rowsOfSeries[open];
    const noDrop = Array.from(rows).filter((i) => Number.isNaN(labels.cheaperLater[i]) && ds.time[i] <= windowEnd);
    expect(exposure[noDrop[0]]).toBeGreaterThanOrEqual(exposure[noDrop[noDrop.length - 1]]);
    expect(ds.time[noDrop[noDrop.length - 1]] - ds.time[noDrop[0]]).toBeGreaterThan(DAY_MS);
  });
});
