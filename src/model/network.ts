import { tf } from './tf.js';

/**
 * The network: a small MLP from a normalised feature vector to four raw outputs,
 * decoded by {@link decodeOutputs}. Pure: building it trains and loads nothing.
 */

/** Raw outputs: [logit of cheaper-later, median lowest ratio, log gap to q10, log gap to q90]. */
export const OUTPUT_SIZE = 4;

/** The quantiles of the lowest-price ratio the network predicts, in output order. */
export const QUANTILES = [0.1, 0.5, 0.9] as const;

export interface NetworkOptions {
  inputSize: number;
  /** Units of each hidden layer. */
  hidden?: readonly number[];
  /** Dropout after each hidden layer while training; 0 disables it. */
  dropout?: number;
  /** L2 penalty on hidden kernels. */
  l2?: number;
  /** Seed for the weight initialisers, for reproducible training. */
  seed?: number;
  /** The model's name; members of an ensemble need distinct ones. */
  name?: string;
}

export const DEFAULT_HIDDEN = [64, 32] as const;

/** Builds the untrained network. Its input is [n, inputSize]; its output [n, OUTPUT_SIZE]. */
export function buildNetwork(options: NetworkOptions): tf.LayersModel {
  const hidden = options.hidden ?? DEFAULT_HIDDEN;
  const seed = options.seed ?? 1;
  const prefix = options.name ? `${options.name}_` : '';
  const input = tf.input({ shape: [options.inputSize], name: `${prefix}features` });
  let x: tf.SymbolicTensor = input;
  hidden.forEach((units, i) => {
    x = tf.layers
      .dense({
        units,
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: seed + i }),
        kernelRegularizer: options.l2 ? tf.regularizers.l2({ l2: options.l2 }) : undefined,
        name: `${prefix}hidden_${i + 1}`,
      })
      .apply(x) as tf.SymbolicTensor;
    if (options.dropout) {
      x = tf.layers.dropout({ rate: options.dropout, seed: seed + 100 + i, name: `${prefix}dropout_${i + 1}` }).apply(x) as tf.SymbolicTensor;
    }
  });
  const output = tf.layers
    .dense({
      units: OUTPUT_SIZE,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1000 }),
      name: `${prefix}heads`,
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: options.name ?? 'fare_model' });
}

/**
 * Joins trained networks into one model that averages their raw outputs: an ensemble
 * that saves, loads and predicts like a single network. One network is returned as is.
 */
export function averageNetworks(members: readonly tf.LayersModel[], inputSize: number): tf.LayersModel {
  if (members.length === 1) return members[0];
  const input = tf.input({ shape: [inputSize], name: 'features' });
  const outputs = members.map((m) => m.apply(input) as tf.SymbolicTensor);
  const average = tf.layers.average({ name: 'ensemble_average' }).apply(outputs) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: average, name: 'fare_ensemble' });
}

/** The decoded heads: the cheaper-later logit and three ordered quantiles (q10 ≤ q50 ≤ q90). */
export interface DecodedOutputs {
  logit: tf.Tensor1D;
  q10: tf.Tensor1D;
  q50: tf.Tensor1D;
  q90: tf.Tensor1D;
}

/** log(1 + e^x) without overflow. */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/**
 * Turns raw outputs into heads. The outer quantiles sit a softplus gap away from the
 * median, so they can never cross it. {@link decodeRow} is the same in JavaScript, for
 * code that reads the raw outputs back (serving, the training loss).
 */
export function decodeOutputs(raw: tf.Tensor2D): DecodedOutputs {
  const [logit, median, lowGap, highGap] = tf.split(raw, OUTPUT_SIZE, 1).map((t) => t.reshape([-1]) as tf.Tensor1D);
  return {
    logit,
    q50: median,
    q10: median.sub(tf.softplus(lowGap)),
    q90: median.add(tf.softplus(highGap)),
  };
}

/** Decoded heads of one row of raw outputs (at `offset` in a row-major [n, OUTPUT_SIZE] array). */
export interface DecodedRow {
  logit: number;
  q10: number;
  q50: number;
  q90: number;
}

/** {@link decodeOutputs} for one row, on plain numbers. */
export function decodeRow(raw: ArrayLike<number>, offset = 0): DecodedRow {
  const median = raw[offset + 1];
  return {
    logit: raw[offset],
    q10: median - softplus(raw[offset + 2]),
    q50: median,
    q90: median + softplus(raw[offset + 3]),
  };
}
