import { beforeAll, describe, expect, it } from 'vitest';
import { createFareModel, predictRaw } from '../../src/model/artifacts.js';
import { compileNetwork } from '../../src/model/forward.js';
import { averageNetworks, buildNetwork, OUTPUT_SIZE } from '../../src/model/network.js';
import { tinyMeta } from '../../src/model/testing.js';
import { initTensorflow, tf } from '../../src/model/tf.js';

const WIDTH = 7;

function rows(n: number, seed = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * WIDTH }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 4 - 2);
}

/** Random, non-zero biases: a freshly built network has zero biases, which would hide a misplaced one. */
function randomizeBiases(network: tf.LayersModel, seed: number): void {
  for (const layer of network.layers.flatMap((l) => ((l as tf.LayersModel).layers ? (l as tf.LayersModel).layers : [l]))) {
    const weights = layer.getWeights();
    if (weights.length !== 2) continue;
    layer.setWeights([weights[0], tf.randomUniform(weights[1].shape, -0.5, 0.5, 'float32', seed++)]);
  }
}

function outputs(run: (x: tf.Tensor2D) => tf.Tensor2D, input: Float32Array): Float32Array {
  return tf.tidy(() => run(tf.tensor2d(input, [input.length / WIDTH, WIDTH])).dataSync() as Float32Array);
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const applied = (network: tf.LayersModel) => (x: tf.Tensor2D) => network.apply(x, { training: false }) as tf.Tensor2D;

function ensemble(members: number): tf.LayersModel {
  const networks = Array.from({ length: members }, (_, k) => {
    const network = buildNetwork({ inputSize: WIDTH, hidden: [6, 5], dropout: 0.1, seed: 11 + k, name: `member_${k + 1}` });
    randomizeBiases(network, 100 * (k + 1));
    return network;
  });
  return averageNetworks(networks, WIDTH);
}

beforeAll(async () => {
  await initTensorflow();
});

describe('compiled forward pass', () => {
  it('computes what apply() computes for one network, dropout left out', () => {
    const network = buildNetwork({ inputSize: WIDTH, hidden: [6, 5], dropout: 0.3, seed: 4 });
    randomizeBiases(network, 1);
    const compiled = compileNetwork(network);
    expect(compiled.fused).toBe(true);
    for (const n of [1, 9, 131]) {
      const input = rows(n, n);
      const out = outputs(compiled.forward, input);
      expect(out.length).toBe(n * OUTPUT_SIZE);
      expect(maxDifference(out, outputs(applied(network), input))).toBeLessThan(1e-5);
    }
    network.dispose();
  });

  it('computes the average of an ensemble', () => {
    const network = ensemble(3);
    const compiled = compileNetwork(network);
    expect(compiled.fused).toBe(true);
    for (const n of [1, 64, 65, 300]) {
      const input = rows(n, 7 + n);
      expect(maxDifference(outputs(compiled.forward, input), outputs(applied(network), input))).toBeLessThan(1e-5);
    }
    network.dispose();
  });

  it('predicts a row the same, to the bit, whatever rows share its batch', () => {
    // A replay of the log batches events differently from the live run and must store the same forecasts.
    const width = 45;
    const members = [1, 2, 3].map((k) => buildNetwork({ inputSize: width, hidden: [64, 32], dropout: 0.1, seed: k, name: `member_${k}` }));
    const network = averageNetworks(members, width);
    const compiled = compileNetwork(network);
    let s = 9;
    const input = Float32Array.from({ length: 300 * width }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 4 - 2);
    const run = (from: number, count: number) =>
      tf.tidy(() => compiled.forward(tf.tensor2d(input.subarray(from * width, (from + count) * width), [count, width])).dataSync() as Float32Array);
    const alone = Array.from({ length: 300 }, (_, i) => Array.from(run(i, 1)));
    for (const size of [2, 7, 64, 65, 128, 300]) {
      for (let from = 0; from + size <= 300; from += size) {
        const batch = run(from, size);
        for (let r = 0; r < size; r++) expect(Array.from(batch.subarray(r * OUTPUT_SIZE, (r + 1) * OUTPUT_SIZE)), `row ${from + r} in ${size}`).toEqual(alone[from + r]);
      }
    }
    network.dispose();
  });

  it('falls back to apply() for layers it does not know', () => {
    const input = tf.input({ shape: [WIDTH] });
    const hidden = tf.layers.dense({ units: 5, activation: 'tanh' }).apply(input) as tf.SymbolicTensor;
    const heads = tf.layers.dense({ units: OUTPUT_SIZE }).apply(hidden) as tf.SymbolicTensor;
    const network = tf.model({ inputs: input, outputs: heads });
    const compiled = compileNetwork(network);
    expect(compiled.fused).toBe(false);
    const x = rows(4);
    expect(maxDifference(outputs(compiled.forward, x), outputs(applied(network), x))).toBe(0);
    network.dispose();
  });

  it('holds no tensors of its own, and runs layers without a bias', () => {
    const input = tf.input({ shape: [WIDTH] });
    const hidden = tf.layers.dense({ units: 5, activation: 'relu', useBias: false }).apply(input) as tf.SymbolicTensor;
    const heads = tf.layers.dense({ units: OUTPUT_SIZE, useBias: false }).apply(hidden) as tf.SymbolicTensor;
    const network = tf.model({ inputs: input, outputs: heads });
    const before = tf.memory().numTensors;
    const compiled = compileNetwork(network);
    expect(compiled.fused).toBe(true);
    const x = rows(3);
    expect(maxDifference(outputs(compiled.forward, x), outputs(applied(network), x))).toBeLessThan(1e-6);
    expect(tf.memory().numTensors).toBe(before);
    network.dispose();
  });

  it('serves a loaded ensemble through the compiled pass with the predictions apply() gives', () => {
    const network = ensemble(3);
    const model = createFareModel(network, { ...tinyMeta('m-forward'), featureNames: Array.from({ length: WIDTH }, (_, j) => `f${j}`), normalization: { mean: new Array(WIDTH).fill(0), std: new Array(WIDTH).fill(1) } });
    const input = rows(20, 3);
    const vectors = Array.from({ length: 20 }, (_, i) => Array.from(input.subarray(i * WIDTH, (i + 1) * WIDTH)));
    const reference = predictRaw(network, input, WIDTH);
    model.predict(vectors).forEach((p, i) => expect(p.probabilityCheaperLater).toBeCloseTo(reference.probability[i], 5));
    model.dispose();
  });
});
