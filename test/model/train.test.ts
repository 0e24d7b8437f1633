import { beforeAll, describe, expect, it } from 'vitest';
import { predictDataset, splitDataset } from '../../src/model/backtest.js';
import { buildDataset, sortByEventTime } from '../../src/model/dataset.js';
import { auc } from '../../src/model/evaluate.js';
import { buildNetwork, decodeOutputs, decodeRow, QUANTILES } from '../../src/model/network.js';
import { initTensorflow, tf } from '../../src/model/tf.js';
import { batchGradients, trainNetwork } from '../../src/model/train.js';
import { syntheticFares } from './synthetic.js';

beforeAll(async () => {
  await initTensorflow();
});

/** The training loss written with tfjs operations, for tfjs' automatic differentiation to check against. */
function referenceLoss(
  network: tf.LayersModel,
  x: tf.Tensor2D,
  y: { cheaper: Float32Array; ratio: Float32Array; exposure: Float32Array },
  quantileWeight: number,
): tf.Scalar {
  const known = Float32Array.from(y.cheaper, (v) => (Number.isNaN(v) ? 0 : 1));
  const cheaper = tf.tensor1d(Float32Array.from(y.cheaper, (v) => (Number.isNaN(v) ? 0 : v)));
  const cheaperMask = tf.tensor1d(known);
  const censoredMask = tf.tensor1d(Float32Array.from(y.exposure, (e, i) => (known[i] === 0 && e > 0 ? 1 : 0)));
  const exposure = tf.tensor1d(y.exposure);
  const ratioMask = tf.tensor1d(Float32Array.from(y.ratio, (v) => (Number.isNaN(v) ? 0 : 1)));
  const ratio = tf.tensor1d(Float32Array.from(y.ratio, (v) => (Number.isNaN(v) ? 0 : v)));
  const heads = decodeOutputs(network.apply(x, { training: false }) as tf.Tensor2D);
  const z = heads.logit;
  const bce = tf.relu(z).sub(z.mul(cheaper)).add(tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
  const censored = tf.neg(tf.log1p(tf.neg(exposure.mul(tf.sigmoid(z)))));
  const classification = bce
    .mul(cheaperMask)
    .sum()
    .add(censored.mul(censoredMask).sum())
    .div(cheaperMask.sum().add(censoredMask.sum()).maximum(1));
  let pinball: tf.Tensor = tf.scalar(0);
  [heads.q10, heads.q50, heads.q90].forEach((q, k) => {
    const tau = QUANTILES[k];
    const e = ratio.sub(q);
    pinball = pinball.add(tf.maximum(e.mul(tau), e.mul(tau - 1)).mul(ratioMask).sum().div(ratioMask.sum().maximum(1)));
  });
  return classification.add(pinball.mul(quantileWeight)) as tf.Scalar;
}

function seeded(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

describe('training step', () => {
  it('computes the loss and gradients tfjs derives from the same loss', () => {
    const width = 7;
    const n = 64;
    const random = seeded(5);
    const x = Float32Array.from({ length: n * width }, () => random() * 4 - 2);
    // Every kind of row: labelled both ways, censored, ratio known or not.
    const cheaper = Float32Array.from({ length: n }, (_, i) => (i % 4 === 3 ? Number.NaN : i % 2));
    const exposure = Float32Array.from({ length: n }, (_, i) => (i % 4 === 3 ? 0.2 + 0.7 * random() : 0));
    const ratio = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? Number.NaN : 0.5 + 0.5 * random()));
    const network = buildNetwork({ inputSize: width, hidden: [8, 5], seed: 3 });

    const ours = batchGradients(network, { x, width, cheaper, ratio, exposure }, 4);

    const input = tf.tensor2d(x, [n, width]);
    const { value, grads } = tf.variableGrads(() => referenceLoss(network, input, { cheaper, ratio, exposure }, 4));
    expect(ours.loss).toBeCloseTo(value.dataSync()[0], 4);
    const weights = network.trainableWeights;
    expect(ours.gradients).toHaveLength(weights.length);
    weights.forEach((w, k) => {
      const expected = grads[(w.read() as tf.Variable).name];
      expect(expected).toBeDefined();
      const reference = expected.dataSync();
      expect(ours.gradients[k].length).toBe(reference.length);
      const scale = Math.max(1e-3, ...Array.from(reference, Math.abs));
      for (let j = 0; j < reference.length; j++) expect(Math.abs(ours.gradients[k][j] - reference[j]) / scale).toBeLessThan(1e-3);
    });
    tf.dispose([input, value, ...Object.values(grads)]);
    network.dispose();
  });

  it('decodes raw outputs in JavaScript as the tensor decoder does', () => {
    const raw = tf.tensor2d([0.3, 0.9, -1.2, 2.5, -4, 0.2, 30, -30], [2, 4]);
    const heads = decodeOutputs(raw);
    const values = raw.dataSync();
    for (let r = 0; r < 2; r++) {
      const row = decodeRow(values, r * 4);
      expect(row.logit).toBeCloseTo(heads.logit.dataSync()[r], 5);
      expect(row.q10).toBeCloseTo(heads.q10.dataSync()[r], 4);
      expect(row.q50).toBeCloseTo(heads.q50.dataSync()[r], 5);
      expect(row.q90).toBeCloseTo(heads.q90.dataSync()[r], 4);
    }
    tf.dispose([raw, ...Object.values(heads)]);
  });
});

describe('trainNetwork', () => {
  const events = sortByEventTime(syntheticFares({ departures: 60, horizon: 30 }));
  const ds = buildDataset(events);
  const split = splitDataset(ds, { cutoff: Date.parse('2016-03-05T00:00:00Z') });
  const options = { hidden: [16], maxEpochs: 15, patience: 15, batchSize: 256, learningRate: 0.01, dropout: 0.1 };

  it('learns a rule that decides whether a cheaper fare comes', async () => {
    const result = await trainNetwork(ds, split.trainLabels, split.trainRows, split.validationRows, options);
    const predictions = predictDataset(result.network, ds, result.normalization);
    const rows = split.validationRows;
    expect(auc(predictions.probability, split.trainLabels.cheaperLater, rows)).toBeGreaterThan(0.95);
    expect(result.validationLoss).not.toBeNull();
    expect(result.bestEpoch).toBeGreaterThan(0);
    result.network.dispose();
  });

  it('is reproducible for a seed, and a different seed trains a different network', async () => {
    const run = async (seed: number) => {
      const result = await trainNetwork(ds, split.trainLabels, split.trainRows, new Int32Array(0), { ...options, maxEpochs: 3, seed });
      const weights = result.network.getWeights().map((w) => Array.from(w.dataSync()));
      result.network.dispose();
      return weights;
    };
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    expect(await run(2)).not.toEqual(a);
  });

  it('fails with a TrainingError when the loss diverges', async () => {
    await expect(
      trainNetwork(ds, split.trainLabels, split.trainRows, split.validationRows, { ...options, maxEpochs: 2, learningRate: Number.NaN }),
    ).rejects.toThrow(/training loss is NaN/);
  });
});
