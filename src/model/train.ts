import type { FeatureDataset, Labels } from './dataset.js';
import { buildNetwork, decodeOutputs, DEFAULT_HIDDEN, QUANTILES } from './network.js';
import { tf } from './tf.js';

/**
 * The training loop: binary cross-entropy on "cheaper later" plus pinball loss on
 * the lowest-price ratio, each masked where its label is unknown (censored series),
 * with Adam and early stopping on a later, time-based validation slice.
 * tfjs' fit() has no per-sample weights, hence the custom loop.
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
  learningRate: 2e-3,
  batchSize: 256,
  maxEpochs: 40,
  patience: 5,
  quantileWeight: 4,
  seed: 42,
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
  cheaper: Float32Array;
  cheaperMask: Float32Array;
  ratio: Float32Array;
  ratioMask: Float32Array;
  /** Censored rows: the chance a cheaper price would have shown by now; 0 elsewhere. */
  exposure: Float32Array;
  size: number;
  width: number;
}

function toExamples(ds: FeatureDataset, labels: Labels, rows: Int32Array, norm: Normalization): Examples {
  const n = rows.length;
  const cheaper = new Float32Array(n);
  const cheaperMask = new Float32Array(n);
  const ratio = new Float32Array(n);
  const ratioMask = new Float32Array(n);
  const exposure = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const y = labels.cheaperLater[rows[r]];
    const q = labels.lowestRatio[rows[r]];
    if (!Number.isNaN(y)) {
      cheaper[r] = y;
      cheaperMask[r] = 1;
    } else if (labels.exposure) {
      exposure[r] = labels.exposure[rows[r]];
    }
    if (!Number.isNaN(q)) {
      ratio[r] = q;
      ratioMask[r] = 1;
    }
  }
  return { x: gatherNormalized(ds, rows, norm), cheaper, cheaperMask, ratio, ratioMask, exposure, size: n, width: ds.width };
}

interface BatchTensors {
  x: tf.Tensor2D;
  cheaper: tf.Tensor1D;
  cheaperMask: tf.Tensor1D;
  ratio: tf.Tensor1D;
  ratioMask: tf.Tensor1D;
  exposure: tf.Tensor1D;
}

function disposeBatch(b: BatchTensors): void {
  tf.dispose([b.x, b.cheaper, b.cheaperMask, b.ratio, b.ratioMask, b.exposure]);
}

/** Tensors of the examples at `order[start..end)`; copying in JS is cheaper than gathering on the backend. */
function batchOf(data: Examples, order: Int32Array | undefined, start: number, end: number): BatchTensors {
  const n = end - start;
  const w = data.width;
  const x = new Float32Array(n * w);
  const pick = (a: Float32Array) => {
    const out = new Float32Array(n);
    for (let r = 0; r < n; r++) out[r] = a[order ? order[start + r] : start + r];
    return out;
  };
  for (let r = 0; r < n; r++) {
    const i = order ? order[start + r] : start + r;
    x.set(data.x.subarray(i * w, i * w + w), r * w);
  }
  return {
    x: tf.tensor2d(x, [n, w]),
    cheaper: tf.tensor1d(pick(data.cheaper)),
    cheaperMask: tf.tensor1d(pick(data.cheaperMask)),
    ratio: tf.tensor1d(pick(data.ratio)),
    ratioMask: tf.tensor1d(pick(data.ratioMask)),
    exposure: tf.tensor1d(pick(data.exposure)),
  };
}

/**
 * The masked loss of one batch: cross-entropy on rows with a known label, the censored
 * likelihood −log(1 − exposure·p) on open series without a cheaper price yet (a mixture
 * cure model), averaged together; plus weight × the mean pinball loss of the quantiles.
 */
function batchLoss(network: tf.LayersModel, b: BatchTensors, quantileWeight: number, training: boolean): tf.Scalar {
  const raw = network.apply(b.x, { training }) as tf.Tensor2D;
  const heads = decodeOutputs(raw);
  const z = heads.logit;
  // Numerically stable binary cross-entropy on logits.
  const bce = tf.relu(z).sub(z.mul(b.cheaper)).add(tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
  const censored = tf.neg(tf.log1p(tf.neg(b.exposure.mul(tf.sigmoid(z)))));
  const censoredMask = b.exposure.greater(0).toFloat();
  const classification = bce
    .mul(b.cheaperMask)
    .sum()
    .add(censored.mul(censoredMask).sum())
    .div(b.cheaperMask.sum().add(censoredMask.sum()).maximum(1));
  let pinball = tf.scalar(0);
  const predicted = [heads.q10, heads.q50, heads.q90];
  QUANTILES.forEach((tau, k) => {
    const e = b.ratio.sub(predicted[k]);
    const loss = tf.maximum(e.mul(tau), e.mul(tau - 1));
    pinball = pinball.add(loss.mul(b.ratioMask).sum().div(b.ratioMask.sum().maximum(1)));
  });
  return classification.add(pinball.mul(quantileWeight)) as tf.Scalar;
}

/** A deterministic shuffle (mulberry32), so a seed reproduces a training run. */
function shuffled(n: number, seed: number): Int32Array {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function evaluateLoss(network: tf.LayersModel, data: Examples, quantileWeight: number, chunk = 8192): number {
  let total = 0;
  for (let start = 0; start < data.size; start += chunk) {
    const end = Math.min(data.size, start + chunk);
    const b = batchOf(data, undefined, start, end);
    const value = tf.tidy(() => batchLoss(network, b, quantileWeight, false));
    total += (value.dataSync()[0] as number) * (end - start);
    value.dispose();
    disposeBatch(b);
  }
  return total / Math.max(1, data.size);
}

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
  if (train.length < opts.batchSize) {
    throw new TrainingError(`only ${train.length} labelled training rows; at least ${opts.batchSize} are needed`);
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
  const optimizer = tf.train.adam(opts.learningRate);
  const trainData = toExamples(ds, labels, train, normalization);
  const validationData = validation.length > 0 ? toExamples(ds, labels, validation, normalization) : undefined;

  let best: { loss: number; epoch: number; weights: tf.Tensor[] } | undefined;
  let epoch = 0;
  let lastTrainLoss: number | null = null;
  try {
    for (epoch = 1; epoch <= opts.maxEpochs; epoch++) {
      const order = shuffled(trainData.size, opts.seed + epoch);
      let lossSum = 0;
      let batches = 0;
      for (let start = 0; start < order.length; start += opts.batchSize) {
        const b = batchOf(trainData, order, start, Math.min(order.length, start + opts.batchSize));
        const loss = optimizer.minimize(() => batchLoss(network, b, opts.quantileWeight, true), true);
        disposeBatch(b);
        if (loss) {
          lossSum += loss.dataSync()[0] as number;
          loss.dispose();
        }
        batches++;
        // Yield now and then so a host process stays responsive (the worker has no one else to serve).
        if (batches % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      const trainLoss = lossSum / Math.max(1, batches);
      if (!Number.isFinite(trainLoss)) throw new TrainingError(`the training loss is ${trainLoss} at epoch ${epoch}`);
      lastTrainLoss = trainLoss;
      const validationLoss = validationData ? evaluateLoss(network, validationData, opts.quantileWeight) : trainLoss;
      if (!best || validationLoss < best.loss) {
        best?.weights.forEach((w) => w.dispose());
        best = { loss: validationLoss, epoch, weights: network.getWeights().map((w) => w.clone()) };
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
    if (best) network.setWeights(best.weights);
  } catch (error) {
    network.dispose();
    throw error;
  } finally {
    best?.weights.forEach((w) => w.dispose());
    optimizer.dispose();
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
    },
  };
}
