import { describe, expect, it } from 'vitest';
import type { FareEvent } from '../../src/events/fare-event.js';
import { tuneThreshold } from '../../src/model/backtest.js';
import { buildDataset, labelDataset, sortByEventTime } from '../../src/model/dataset.js';
import { passengerRows, passengersOf } from '../../src/model/evaluate.js';

const DAY_MS = 86_400_000;

/** Series observed 3, 2 and 1 days before departure: each starts two passengers (days 3 and 2). */
function fares(count: number, prices: readonly number[], firstDeparture: number, origin: string): FareEvent[] {
  const events: FareEvent[] = [];
  for (let s = 0; s < count; s++) {
    const departure = firstDeparture + s * DAY_MS;
    prices.forEach((price, k) => {
      events.push({
        origin,
        destination: 'BBB',
        departureDate: new Date(departure).toISOString().slice(0, 10),
        observedAt: new Date(departure - (prices.length - k) * DAY_MS + 9 * 3_600_000).toISOString(),
        price,
        currency: 'EUR',
      });
    });
  }
  return events;
}

/**
 * Half the series drop on the second day (waiting on the first day pays), half rise
 * (waiting costs). The model's probability on the first day is `onDrop` or `onRise`,
 * and low on later days.
 */
function scenario(onDrop: number, onRise: number, extra: FareEvent[] = []) {
  const start = Date.parse('2016-01-10T00:00:00Z');
  const ds = buildDataset(
    sortByEventTime([...fares(20, [100, 80, 80], start, 'AAA'), ...fares(20, [100, 130, 140], start, 'CCC'), ...extra]),
  );
  const labels = labelDataset(ds, Infinity);
  const passengers = passengersOf(ds, labels, { from: -Infinity, to: Infinity });
  const probability = new Float32Array(ds.size).fill(0.1);
  ds.rowsOfSeries.forEach((rows, s) => {
    const origin = ds.seriesKeys[s].slice(0, 3);
    probability[rows[0]] = origin === 'AAA' ? onDrop : origin === 'CCC' ? onRise : 0.9;
  });
  return { ds, passengers, probability };
}

describe('wait threshold tuning', () => {
  it('takes 0.5 when every threshold near it does as well', () => {
    const { ds, passengers, probability } = scenario(0.9, 0.3);
    const tuned = tuneThreshold(ds, passengers, probability);
    expect(tuned.threshold).toBe(0.5);
    expect(tuned.result?.savingsPctOfOptimal).toBe(100);
    // Thresholds below the rises' 0.3 wait on them and lose.
    expect(tuned.scores.find((s) => s.threshold === 0.25)!.savings!).toBeLessThan(0);
  });

  it('moves off 0.5 when the passengers clearly say so, and no further than needed', () => {
    const { ds, passengers, probability } = scenario(0.9, 0.58);
    const tuned = tuneThreshold(ds, passengers, probability);
    // 0.5 and 0.55 wait on the rises; 0.6 does not, but its neighbour 0.55 does: 0.65 is the nearest
    // threshold whose neighbourhood does as well as the best.
    expect(tuned.threshold).toBe(0.65);
    expect(tuned.result?.savingsPctOfOptimal).toBe(100);
    expect(tuned.standardError).toBe(0);
  });

  it('prefers the threshold nearest 0.5 that is within one standard error of the best', () => {
    // A few series the model is sure of (0.9) rise instead: the savings are uncertain. Waiting at
    // 0.58 on the rises costs a little next to that uncertainty.
    const start = Date.parse('2016-01-10T00:00:00Z');
    const surprises = fares(12, [100, 110, 110], start, 'EEE');
    const { ds, passengers, probability } = scenario(0.9, 0.58, surprises);
    const riseSeries = ds.rowsOfSeries.filter((_, s) => ds.seriesKeys[s].startsWith('CCC'));
    // The rises are small: waiting on them costs little.
    riseSeries.forEach((rows, k) => {
      for (const i of rows.subarray(1)) ds.price[i] = k === 0 ? 110 : 101;
    });
    const tuned = tuneThreshold(ds, passengers, probability);
    const smoothed = (t: number) => tuned.scores.find((s) => s.threshold === t)!.smoothed!;
    const best = Math.max(...tuned.scores.map((s) => s.smoothed!));
    expect(smoothed(0.7)).toBeCloseTo(best, 9);
    expect(best - smoothed(0.5)).toBeGreaterThan(5);
    expect(tuned.standardError).toBeGreaterThan(best - smoothed(0.5));
    expect(tuned.threshold).toBe(0.5);
  });

  it('reads only the rows the passengers simulate', () => {
    const { ds, passengers } = scenario(0.9, 0.3);
    const rows = Array.from(passengerRows(ds, passengers));
    // Every row of every series: the two start days and the last day.
    expect(rows).toEqual(Array.from({ length: ds.size }, (_, i) => i));
    expect(rows).toHaveLength(3 * 40);
    expect(Array.from(passengerRows(ds, passengers.filter((p) => p.start === 1)))).toHaveLength(2 * 40);
  });
});
