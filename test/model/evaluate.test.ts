import { describe, expect, it } from 'vitest';
import type { FareEvent } from '../../src/events/fare-event.js';
import { buildDataset, labelDataset } from '../../src/model/dataset.js';
import { auc, fixedRule, oracleRule, passengersOf, simulate } from '../../src/model/evaluate.js';

function fares(departureDate: string, prices: number[]): FareEvent[] {
  const departure = Date.parse(`${departureDate}T00:00:00Z`);
  // The last price is observed 1 day before departure.
  return prices.map((price, i) => ({
    origin: 'AAA',
    destination: 'BBB',
    departureDate,
    observedAt: new Date(departure - (prices.length - i) * 86_400_000 + 9 * 3_600_000).toISOString(),
    price,
    currency: 'EUR',
  }));
}

describe('policy simulation', () => {
  // Days before departure: 5, 4, 3, 2, 1. Passengers start on days 5, 4, 3 and 2.
  const ds = buildDataset(fares('2016-01-10', [100, 80, 120, 150, 200]));
  const labels = labelDataset(ds, Infinity);
  const passengers = passengersOf(ds, labels, { from: -Infinity, to: Infinity });

  it('starts one passenger per day with 2–35 days to go in complete series', () => {
    expect(passengers.map((p) => ds.daysBefore[ds.rowsOfSeries[p.series][p.start]])).toEqual([5, 4, 3, 2]);
  });

  it('scores buy-now, wait-to-the-end and the oracle', () => {
    const buyNow = simulate(ds, passengers, new Uint8Array(ds.size));
    expect(buyNow.savingsPctOfOptimal).toBe(0);
    expect(buyNow.paidMorePct).toBe(0);

    const waitToEnd = simulate(ds, passengers, new Uint8Array(ds.size).fill(1));
    // Paid 200 each: savings (100−200)+(80−200)+(120−200)+(150−200) over optimal (100−80)+0+0+0.
    expect(waitToEnd.savingsPctOfOptimal).toBeCloseTo((100 * (-100 - 120 - 80 - 50)) / 20);
    expect(waitToEnd.paidMorePct).toBe(100);

    const oracle = simulate(ds, passengers, oracleRule(labels));
    expect(oracle.savingsPctOfOptimal).toBe(100);
    expect(oracle.meanSavingPct).toBeCloseTo((100 * (20 / 100)) / 4);
  });

  it('applies a fixed rule day by day', () => {
    // Wait while more than 4 days before: the day-5 passenger buys on day 4 at 80.
    const result = simulate(ds, passengers, fixedRule(ds, 4));
    expect(result.savingsPctOfOptimal).toBe(100);
  });
});

describe('AUC', () => {
  it('is 1 for a perfect ranking, 0.5 for ties, and skips unknown labels', () => {
    const rows = [0, 1, 2, 3, 4];
    expect(auc([0.1, 0.2, 0.8, 0.9, 0.5], [0, 0, 1, 1, Number.NaN], rows)).toBe(1);
    expect(auc([0.5, 0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1, 0], rows)).toBe(0.5);
    expect(auc([0.9, 0.3, 0.1, 0.2, 0.5], [0, 0, 1, 1, 1], rows)).toBeCloseTo(1 / 6);
  });
});
