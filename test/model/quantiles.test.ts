import { beforeAll, describe, expect, it } from 'vitest';
import { finishQuantiles, type RawPredictions } from '../../src/model/artifacts.js';
import { calibrateIntervals } from '../../src/model/backtest.js';
import type { Labels } from '../../src/model/dataset.js';
import { FEATURE_COUNT } from '../../src/model/features.js';
import { createTinyModel } from '../../src/model/testing.js';
import { initTensorflow } from '../../src/model/tf.js';

beforeAll(async () => {
  await initTensorflow();
});

const raw = (rows: [p: number, q10: number, q50: number, q90: number][]): RawPredictions => ({
  probability: Float32Array.from(rows, (r) => r[0]),
  q10: Float32Array.from(rows, (r) => r[1]),
  q50: Float32Array.from(rows, (r) => r[2]),
  q90: Float32Array.from(rows, (r) => r[3]),
});
const rowsOf = (p: RawPredictions) => Array.from(p.q50, (_, i) => [p.q10[i], p.q50[i], p.q90[i]].map((x) => Number(x.toFixed(4))));

describe('the quantiles of the lowest price still to come', () => {
  it('put a quantile at today\'s price whenever a cheaper price is no likelier than its level', () => {
    const finished = finishQuantiles(
      raw([
        [0.05, 0.7, 0.8, 0.9], // a drop is unlikely: every quantile is today's price
        [0.3, 0.7, 0.8, 0.9], // a buy: the median is today's price, the 10% quantile the head's
        [0.5, 0.7, 0.8, 0.9], // exactly even is a buy too
        [0.7, 0.7, 0.8, 0.9], // a wait: median and 10% quantile from the head
        [0.95, 0.7, 0.8, 0.9], // a drop almost surely: all three from the head
      ]),
      1,
    );
    expect(rowsOf(finished)).toEqual([
      [1, 1, 1],
      [0.7, 1, 1],
      [0.7, 1, 1],
      [0.7, 0.8, 1],
      [0.7, 0.8, 0.9],
    ]);
  });

  it('scales the interval around the head\'s median before that', () => {
    expect(rowsOf(finishQuantiles(raw([[0.95, 0.7, 0.8, 0.9]]), 0.5))).toEqual([[0.75, 0.8, 0.85]]);
    expect(rowsOf(finishQuantiles(raw([[0.3, 0.7, 0.8, 0.9]]), 2))).toEqual([[0.6, 1, 1]]);
  });

  it('serves a buy with today\'s price as the expected lowest, and keeps the quantiles in order', async () => {
    const model = await createTinyModel({ seed: 3 });
    try {
      let s = 11;
      const next = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 6 - 3;
      const predictions = model.predict(Array.from({ length: 400 }, () => Array.from({ length: FEATURE_COUNT }, next)));
      const buys = predictions.filter((p) => p.probabilityCheaperLater <= 0.5);
      expect(buys.length).toBeGreaterThan(0);
      for (const p of buys) expect(p.lowestRatio.q50).toBe(1);
      for (const { lowestRatio: q } of predictions) {
        expect(q.q10).toBeLessThanOrEqual(q.q50);
        expect(q.q50).toBeLessThanOrEqual(q.q90);
        expect(q.q90).toBeLessThanOrEqual(1);
      }
    } finally {
      model.dispose();
    }
  });

  it('calibrates the interval to the narrowest scale that covers 80%, narrowing it too', () => {
    // Ten rows whose heads all say 0.5–0.9 around a median of 0.7, with p = 0.95; outcomes 0.55 to 1.
    const outcomes = [0.55, 0.6, 0.62, 0.65, 0.7, 0.72, 0.75, 0.8, 0.85, 1];
    const predictions = raw(outcomes.map(() => [0.95, 0.5, 0.7, 0.9]));
    const labels = { cheaperLater: new Float32Array(10).fill(1), lowestRatio: Float32Array.from(outcomes) } as unknown as Labels;
    const rows = Int32Array.from(outcomes, (_, i) => i);
    // 0.5–0.9 covers 9 of 10; ×0.8 (0.54–0.86) still 9, ×0.7 (0.56–0.84) only 7.
    expect(calibrateIntervals(labels, rows, predictions)).toBe(0.8);
    // The predictions it was given are left as they were.
    expect(rowsOf(predictions)[0]).toEqual([0.5, 0.7, 0.9]);
  });
});
