import { mulberry32 } from '../lib/prng.js';
import type { FeatureDataset, Labels } from './dataset.js';
import { buildNetwork, DEFAULT_HIDDEN, OUTPUT_SIZE, QUANTILES, softplus } from './network.js';
import { tf } from './tf.js';

/**
 * The training loop: binary cross-entropy on "cheaper later" plus pinball loss on
 * the lowest-price ratio, each masked where its label is unknown (censored series),
 * with Adam and early stopping on a later, time-based validation slice.
 *
 * The network is small (a few thousand weights) and the rows many, so the loop is
 * built for throughput on tfjs' wasm backend rather than on the layers API:
 *
 * - the forward and backward passes of the dense layers are written out by hand
 *   (no gradient tape), with every matrix product in the plain, untransposed form:
 *   tfjs-wasm multiplies a transposed operand an order of magnitude slower;
 * - the loss of the four heads and its gradient, dropout masks and Adam run in
 *   JavaScript on Float32Arrays: they are cheap per row, and each would otherwise
 *   cost dozens of small tfjs operations per step;
 * - mini-batches of 512 rows (twice the size the layers loop used) and a learning
 *   rate raised to match, falling linearly to a tenth over the run of ten epochs.
 *
 * The trained weights are put into the tfjs layers model of {@link buildNetwork}, so a
 * model saves, loads and serves as before.
 */

export interface TrainOptions {
  hidden?: readonly number[];
  dropout?: number;
  l2?: number;
  learningRate?: number;
  batchSize?: number;
  maxEpochs?: number;
  /** Stop after this many epochs without a better validation loss. */
  patience?: number;
  /** Weight of the pinball loss next to the cross-entropy. */
  quantileWeight?: number;
  seed?: number;
  /** Learning rate at the last of `maxEpochs`, as a share of `learningRate`; the rate falls linearly to it. */
  finalLearningRate?: number;
  /** The network's name (members of an ensemble need distinct ones). */
  name?: string;
  /** Called after every epoch, e.g. for a progress bar. */
  onEpoch?: (progress: EpochProgress) => void;
}

export interface EpochProgress {
  epoch: number;
  maxEpochs: number;
  trainLoss: number;
  validationLoss: number | null;
  bestEpoch: number;
}

/** Per-feature mean and standard deviation of the training rows. */
export interface Normalization {
  mean: number[];
  std: number[];
}

export interface TrainResult {
  network: tf.LayersModel;
  normalization: Normalization;
  epochs: number;
  bestEpoch: number;
  trainLoss: number | null;
  validationLoss: number | null;
  seconds: number;
  options: Required<Omit<TrainOptions, 'onEpoch' | 'name'>>;
}

/** Thrown when training diverges or has nothing to learn from. */
export class TrainingError extends Error {
  override name = 'TrainingError';
}

export const DEFAULT_TRAIN_OPTIONS: Required<Omit<TrainOptions, 'onEpoch' | 'name'>> = {
  hidden: DEFAULT_HIDDEN,
  dropout: 0.1,
  l2: 0,
  learningRate: 4e-3,
  batchSize: 512,
  maxEpochs: 10,
  patience: 4,
  quantileWeight: 4,
  seed: 42,
  finalLearningRate: 0.1,
};

/** Mean and standard deviation per feature over `rows`; constant features get std 1. */
export function computeNormalization(ds: FeatureDataset, rows: ArrayLike<number>): Normalization {
  const w = ds.width;
  const mean = new Float64Array(w);
  const sq = new Float64Array(w);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r] * w;
    for (let c = 0; c < w; c++) mean[c] += ds.features[base + c];
  }
  for (let c = 0; c < w; c++) mean[c] /= Math.max(1, rows.length);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r] * w;
    for (let c = 0; c < w; c++) {
      const d = ds.features[base + c] - mean[c];
      sq[c] += d * d;
    }
  }
  const std = Array.from(sq, (s) => {
    const v = Math.sqrt(s / Math.max(1, rows.length - 1));
    return v > 1e-6 ? v : 1;
  });
  return { mean: Array.from(mean), std };
}

/** Normalised features of `rows`, row-major. */
export function gatherNormalized(ds: FeatureDataset, rows: ArrayLike<number>, norm: Normalization): Float32Array {
  const w = ds.width;
  const out = new Float32Array(rows.length * w);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r] * w;
    for (let c = 0; c < w; c++) out[r * w + c] = (ds.features[base + c] - norm.mean[c]) / norm.std[c];
  }
  return out;
}

/** Rows with at least one known label: those training can use. */
export function labelledRows(labels: Labels, rows: ArrayLike<number>): Int32Array {
  const out: number[] = [];
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r];
    const censoredButUsable = labels.exposure !== undefined && labels.exposure[i] > 0;
    if (!Number.isNaN(labels.cheaperLater[i]) || !Number.isNaN(labels.lowestRatio[i]) || censoredButUsable) out.push(i);
  }
  return Int32Array.from(out);
}

/** Normalised inputs and masked labels of a set of rows, kept in JS memory; tensors are made per batch. */
interface Examples {
  x: Float32Array;
  /** "Cheaper later": 0 or 1 where known, NaN elsewhere. */
  cheaper: Float32Array;
  /** Lowest-price ratio where known, NaN elsewhere. */
  ratio: Float32Array;
  /** Censored rows: the chance a cheaper price would have shown by now; 0 elsewhere. */
  exposure: Float32Array;
  size: number;
  width: number;
}

function toExamples(ds: FeatureDataset, labels: Labels, rows: Int32Array, norm: Normalization): Examples {
  const n = rows.length;
  const cheaper = new Float32Array(n);
  const ratio = new Float32Array(n);
  const exposure = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const i = rows[r];
    cheaper[r] = labels.cheaperLater[i];
    ratio[r] = labels.lowestRatio[i];
    if (Number.isNaN(cheaper[r]) && labels.exposure) exposure[r] = labels.exposure[i];
  }
  return { x: gatherNormalized(ds, rows, norm), cheaper, ratio, exposure, size: n, width: ds.width };
}

/** A deterministic shuffle of 0..n-1. */
function shuffled(n: number, bits: () => number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((bits() / 4294967296) * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * The masked loss of a batch from the network's raw outputs (n × 4, row-major):
 * cross-entropy on rows with a known label and the censored likelihood
 * −log(1 − exposure·p) on open series without a cheaper price yet (a mixture cure
 * model), averaged together; plus weight × the mean pinball loss of the quantiles.
 * With `grad`, also writes d loss / d output into it.
 */
function headsLoss(
  out: Float32Array,
  data: Examples,
  rows: Int32Array | undefined,
  start: number,
  n: number,
  quantileWeight: number,
  grad?: Float32Array,
): number {
  let classified = 0;
  let ratios = 0;
  for (let r = 0; r < n; r++) {
    const i = rows ? rows[start + r] : start + r;
    if (!Number.isNaN(data.cheaper[i]) || data.exposure[i] > 0) classified++;
    if (!Number.isNaN(data.ratio[i])) ratios++;
  }
  const cw = 1 / Math.max(1, classified);
  const qw = quantileWeight / Math.max(1, ratios);
  let classification = 0;
  let pinball = 0;
  for (let r = 0; r < n; r++) {
    const i = rows ? rows[start + r] : start + r;
    const o = r * OUTPUT_SIZE;
    const z = out[o];
    const median = out[o + 1];
    const y = data.cheaper[i];
    const e = data.exposure[i];
    let dz = 0;
    if (!Number.isNaN(y)) {
      // Numerically stable binary cross-entropy on the logit.
      classification += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
      dz = (sigmoid(z) - y) * cw;
    } else if (e > 0) {
      const p = sigmoid(z);
      classification -= Math.log1p(-e * p);
      dz = ((e * p * (1 - p)) / (1 - e * p)) * cw;
    }
    let dMedian = 0;
    let dLow = 0;
    let dHigh = 0;
    const ratio = data.ratio[i];
    if (!Number.isNaN(ratio)) {
      const lowGap = out[o + 2];
      const highGap = out[o + 3];
      const q = [median - softplus(lowGap), median, median + softplus(highGap)];
      const dq = [0, 0, 0];
      for (let k = 0; k < 3; k++) {
        const tau = QUANTILES[k];
        const err = ratio - q[k];
        pinball += err >= 0 ? tau * err : (tau - 1) * err;
        dq[k] = (err >= 0 ? -tau : 1 - tau) * qw;
      }
      dMedian = dq[0] + dq[1] + dq[2];
      dLow = -dq[0] * sigmoid(lowGap);
      dHigh = dq[2] * sigmoid(highGap);
    }
    if (grad) {
      grad[o] = dz;
      grad[o + 1] = dMedian;
      grad[o + 2] = dLow;
      grad[o + 3] = dHigh;
    }
  }
  return classification * cw + pinball * qw;
}

/** One dense layer's weights as flat arrays: kernel [inputs × units] row-major, and bias. */
interface DenseParams {
  inputs: number;
  units: number;
  kernel: Float32Array;
  bias: Float32Array;
}

/** Adam's moments for one array of parameters. */
interface Moments {
  m: Float32Array;
  v: Float32Array;
}

function transposeOf(a: Float32Array, rows: number, cols: number, out: Float32Array = new Float32Array(rows * cols)): Float32Array {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * The forward pass on n normalised rows: raw outputs (n × 4). With `keep`, also returns
 * the tensors of the layers' activations (post-dropout) for the backward pass; the
 * caller disposes them (through tf.tidy).
 */
function forward(
  layers: readonly DenseParams[],
  x: tf.Tensor2D,
  masks: (tf.Tensor2D | undefined)[] | undefined,
): { out: tf.Tensor2D; activations: tf.Tensor2D[] } {
  const activations: tf.Tensor2D[] = [x];
  let a = x;
  layers.forEach((layer, l) => {
    const last = l === layers.length - 1;
    const w = tf.tensor2d(layer.kernel, [layer.inputs, layer.units]);
    const b = tf.tensor1d(layer.bias);
    a = tf.fused.matMul({ a, b: w, bias: b, activation: last ? 'linear' : 'relu' }) as tf.Tensor2D;
    const mask = masks?.[l];
    if (mask) a = tf.mul(a, mask);
    if (!last) activations.push(a);
  });
  return { out: a, activations };
}

/** Raw outputs of the network for every example, in chunks. */
function predictExamples(layers: readonly DenseParams[], data: Examples, chunk = 8192): Float32Array {
  const out = new Float32Array(data.size * OUTPUT_SIZE);
  for (let start = 0; start < data.size; start += chunk) {
    const end = Math.min(data.size, start + chunk);
    const values = tf.tidy(() => {
      const x = tf.tensor2d(data.x.subarray(start * data.width, end * data.width), [end - start, data.width]);
      return forward(layers, x, undefined).out.dataSync() as Float32Array;
    });
    out.set(values, start * OUTPUT_SIZE);
  }
  return out;
}

function evaluateLoss(layers: readonly DenseParams[], data: Examples, quantileWeight: number): number {
  const out = predictExamples(layers, data);
  return headsLoss(out, data, undefined, 0, data.size, quantileWeight);
}

/** A network's weights as flat arrays (for a fresh network: as tfjs' initialisers drew them for its seed). */
function initialParams(network: tf.LayersModel): DenseParams[] {
  const weights = network.getWeights();
  const layers: DenseParams[] = [];
  for (let k = 0; k < weights.length; k += 2) {
    const [inputs, units] = weights[k].shape as [number, number];
    layers.push({
      inputs,
      units,
      kernel: Float32Array.from(weights[k].dataSync() as Float32Array),
      bias: Float32Array.from(weights[k + 1].dataSync() as Float32Array),
    });
  }
  return layers;
}

/** A training step's scratch buffers, reused from batch to batch. */
interface Scratch {
  x: Float32Array;
  xT: Float32Array;
  grad: Float32Array;
  masks: Float32Array[];
}

/**
 * One step of mini-batch gradient descent on `order[start..start+n)`. Returns the batch's
 * loss; writes the gradients into `gradients` (same layout as `layers`).
 */
function step(
  layers: readonly DenseParams[],
  data: Examples,
  order: Int32Array,
  start: number,
  n: number,
  opts: { dropout: number; quantileWeight: number },
  bits: () => number,
  scratch: Scratch,
  gradients: DenseParams[],
): number {
  const w = data.width;
  const x = scratch.x.subarray(0, n * w);
  for (let r = 0; r < n; r++) {
    const i = order[start + r];
    x.set(data.x.subarray(i * w, i * w + w), r * w);
  }
  const keep = 1 - opts.dropout;
  const hidden = layers.length - 1;
  const maskArrays: Float32Array[] = [];
  if (opts.dropout > 0) {
    // Two masks entries from each 32-bit draw: 16 bits of resolution is plenty for a rate.
    const threshold = Math.round(keep * 65536);
    const scale = 1 / keep;
    for (let l = 0; l < hidden; l++) {
      const size = n * layers[l].units;
      const mask = scratch.masks[l].subarray(0, size);
      for (let j = 0; j < size; j += 2) {
        const r = bits();
        mask[j] = (r & 0xffff) < threshold ? scale : 0;
        if (j + 1 < size) mask[j + 1] = r >>> 16 < threshold ? scale : 0;
      }
      maskArrays.push(mask);
    }
  }
  let loss = 0;
  tf.tidy(() => {
    const xt = tf.tensor2d(x, [n, w]);
    const masks = maskArrays.map((m, l) => tf.tensor2d(m, [n, layers[l].units]));
    const { out, activations } = forward(layers, xt, masks.length > 0 ? masks : undefined);
    const grad = scratch.grad.subarray(0, n * OUTPUT_SIZE);
    loss = headsLoss(out.dataSync() as Float32Array, data, order, start, n, opts.quantileWeight, grad);
    // Back through the layers. Every product is untransposed (see the header): the
    // transposed operands are made explicitly, the input's in JS.
    let g: tf.Tensor2D = tf.tensor2d(grad, [n, OUTPUT_SIZE]);
    for (let l = layers.length - 1; l >= 0; l--) {
      const layer = layers[l];
      const inputT =
        l === 0 ? tf.tensor2d(transposeOf(x, n, w, scratch.xT.subarray(0, n * w)), [w, n]) : tf.transpose(activations[l]);
      const dKernel = tf.matMul(inputT, g);
      const dBias = tf.sum(g, 0);
      gradients[l].kernel.set(dKernel.dataSync() as Float32Array);
      gradients[l].bias.set(dBias.dataSync() as Float32Array);
      if (l > 0) {
        const kernelT = tf.tensor2d(transposeOf(layer.kernel, layer.inputs, layer.units), [layer.units, layer.inputs]);
        // Through ReLU and dropout: the input is positive exactly where both let the gradient pass.
        const passed = tf.mul(tf.matMul(g, kernelT), tf.step(activations[l]));
        g = (opts.dropout > 0 ? tf.mul(passed, 1 / keep) : passed) as tf.Tensor2D;
      }
    }
  });
  return loss;
}

/** Labelled rows for {@link batchGradients}: what a training batch holds. */
export interface LabelledBatch {
  /** Normalised inputs, row-major [n, width]. */
  x: Float32Array;
  width: number;
  /** 0 or 1 where known, NaN elsewhere. */
  cheaper: Float32Array;
  /** Lowest-price ratio where known, NaN elsewhere. */
  ratio: Float32Array;
  /** For censored rows, their exposure; 0 elsewhere. */
  exposure: Float32Array;
}

/**
 * The loss of one batch and its gradient with respect to each of the network's weights
 * (in `getWeights()` order), without dropout: the computation of a training step.
 */
export function batchGradients(
  network: tf.LayersModel,
  batch: LabelledBatch,
  quantileWeight = DEFAULT_TRAIN_OPTIONS.quantileWeight,
): { loss: number; gradients: Float32Array[] } {
  const n = batch.cheaper.length;
  const layers = initialParams(network);
  const gradients = cloneParams(layers);
  const data: Examples = { ...batch, size: n };
  const scratch: Scratch = {
    x: new Float32Array(n * batch.width),
    xT: new Float32Array(n * batch.width),
    grad: new Float32Array(n * OUTPUT_SIZE),
    masks: [],
  };
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const loss = step(layers, data, order, 0, n, { dropout: 0, quantileWeight }, () => 0, scratch, gradients);
  return { loss, gradients: gradients.flatMap((g) => [g.kernel, g.bias]) };
}

/** One Adam update of `params` from `grads` (Kingma & Ba), with an optional L2 penalty. */
function adamUpdate(
  params: Float32Array,
  grads: Float32Array,
  moments: Moments,
  lr: number,
  t: number,
  l2: number,
  beta1 = 0.9,
  beta2 = 0.999,
  epsilon = 1e-7,
): void {
  const c1 = 1 - beta1 ** t;
  const c2 = 1 - beta2 ** t;
  const { m, v } = moments;
  for (let j = 0; j < params.length; j++) {
    const g = grads[j] + 2 * l2 * params[j];
    m[j] = beta1 * m[j] + (1 - beta1) * g;
    v[j] = beta2 * v[j] + (1 - beta2) * g * g;
    params[j] -= (lr * (m[j] / c1)) / (Math.sqrt(v[j] / c2) + epsilon);
  }
}

const cloneParams = (layers: readonly DenseParams[]): DenseParams[] =>
  layers.map((l) => ({ ...l, kernel: Float32Array.from(l.kernel), bias: Float32Array.from(l.bias) }));

/**
 * Trains a network on `trainRows`, stopping early on `validationRows` (rows observed
 * after the training rows). Returns the weights of the best validation epoch.
 */
export async function trainNetwork(
  ds: FeatureDataset,
  labels: Labels,
  trainRows: Int32Array,
  validationRows: Int32Array,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const opts = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  const startedAt = performance.now();
  const train = labelledRows(labels, trainRows);
  const validation = labelledRows(labels, validationRows);
  const minimum = Math.min(opts.batchSize, 256);
  if (train.length < minimum) {
    throw new TrainingError(`only ${train.length} labelled training rows; at least ${minimum} are needed`);
  }
  const normalization = computeNormalization(ds, train);
  const network = buildNetwork({
    inputSize: ds.width,
    hidden: opts.hidden,
    dropout: opts.dropout,
    l2: opts.l2,
    seed: opts.seed,
    name: opts.name,
  });
  const trainData = toExamples(ds, labels, train, normalization);
  const validationData = validation.length > 0 ? toExamples(ds, labels, validation, normalization) : undefined;

  const layers = initialParams(network);
  const gradients = cloneParams(layers);
  const moments = layers.map((l) => ({
    kernel: { m: new Float32Array(l.kernel.length), v: new Float32Array(l.kernel.length) },
    bias: { m: new Float32Array(l.bias.length), v: new Float32Array(l.bias.length) },
  }));
  const batchSize = Math.max(1, Math.min(opts.batchSize, trainData.size));
  const scratch: Scratch = {
    x: new Float32Array(batchSize * ds.width),
    xT: new Float32Array(batchSize * ds.width),
    grad: new Float32Array(batchSize * OUTPUT_SIZE),
    masks: layers.slice(0, -1).map((l) => new Float32Array(batchSize * l.units)),
  };
  const bits = mulberry32(opts.seed);
  // The rate falls linearly over maxEpochs; early stopping may end the run before.
  const decay = opts.finalLearningRate;
  const totalSteps = opts.maxEpochs * Math.ceil(trainData.size / batchSize);

  let best: { loss: number; epoch: number; layers: DenseParams[] } | undefined;
  let epoch = 0;
  let t = 0;
  let lastTrainLoss: number | null = null;
  try {
    for (epoch = 1; epoch <= opts.maxEpochs; epoch++) {
      const order = shuffled(trainData.size, bits);
      let lossSum = 0;
      let batches = 0;
      for (let start = 0; start < order.length; start += batchSize) {
        const n = Math.min(batchSize, order.length - start);
        lossSum += step(layers, trainData, order, start, n, opts, bits, scratch, gradients) * n;
        const lr = opts.learningRate * (1 - ((1 - decay) * t) / Math.max(1, totalSteps - 1));
        t++;
        layers.forEach((layer, l) => {
          adamUpdate(layer.kernel, gradients[l].kernel, moments[l].kernel, lr, t, l < layers.length - 1 ? opts.l2 : 0);
          adamUpdate(layer.bias, gradients[l].bias, moments[l].bias, lr, t, 0);
        });
        batches++;
        // Yield now and then so a host process stays responsive (the worker has no one else to serve).
        if (batches % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      const trainLoss = lossSum / Math.max(1, order.length);
      if (!Number.isFinite(trainLoss)) throw new TrainingError(`the training loss is ${trainLoss} at epoch ${epoch}`);
      lastTrainLoss = trainLoss;
      const validationLoss = validationData ? evaluateLoss(layers, validationData, opts.quantileWeight) : trainLoss;
      if (!best || validationLoss < best.loss || !validationData) {
        best = { loss: validationLoss, epoch, layers: validationData ? cloneParams(layers) : layers };
      }
      opts.onEpoch?.({
        epoch,
        maxEpochs: opts.maxEpochs,
        trainLoss,
        validationLoss: validationData ? validationLoss : null,
        bestEpoch: best.epoch,
      });
      if (epoch - best.epoch >= opts.patience) break;
    }
    const final = (best?.layers ?? layers).flatMap((l) => [tf.tensor2d(l.kernel, [l.inputs, l.units]), tf.tensor1d(l.bias)]);
    network.setWeights(final);
    tf.dispose(final);
  } catch (error) {
    network.dispose();
    throw error;
  }
  return {
    network,
    normalization,
    epochs: Math.min(epoch, opts.maxEpochs),
    bestEpoch: best?.epoch ?? 0,
    trainLoss: lastTrainLoss,
    validationLoss: validationData && best ? best.loss : null,
    seconds: (performance.now() - startedAt) / 1000,
    options: {
      hidden: [...opts.hidden],
      dropout: opts.dropout,
      l2: opts.l2,
      learningRate: opts.learningRate,
      batchSize: opts.batchSize,
      maxEpochs: opts.maxEpochs,
      patience: opts.patience,
      quantileWeight: opts.quantileWeight,
      seed: opts.seed,
      finalLearningRate: opts.finalLearningRate,
    },
  };
}
