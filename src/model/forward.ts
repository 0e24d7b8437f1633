import { tf } from './tf.js';

/**
 * The serving forward pass. A layers model runs every layer through tfjs-layers' graph
 * executor, which costs 0.2–0.3 ms per call for the averaged ensemble whatever the batch
 * size (on wasm): more than the arithmetic for the few dozen rows a predict invocation
 * holds. This turns the networks that {@link buildNetwork} and {@link averageNetworks} make
 * into a few fused matrix products on the same weights: for the shipped ensemble, 46 against
 * 278 µs for one row, 197 against 296 µs for 60, 1.84 against 1.97 ms for 1,000.
 */

/** Runs normalised rows [n, inputs] to raw outputs [n, outputs]. */
export type Forward = (x: tf.Tensor2D) => tf.Tensor2D;

/** A network's forward pass with the tensors it holds. */
export interface CompiledNetwork {
  forward: Forward;
  /** True when the network's layers were recognised and run as fused products. */
  fused: boolean;
  /** Frees the tensors the compiled pass holds (not the network's own weights). */
  dispose(): void;
}

/**
 * Batches up to this many rows run through the members merged into one wider network
 * (block-diagonal weights: three products in all). Larger ones run each member's
 * products, which wastes no arithmetic on the zero blocks (on wasm, merged against member
 * by member: 197 against 220 µs for 60 rows, 384 against 338 µs for 128).
 */
export const MERGED_MAX_ROWS = 64;

interface DenseStep {
  kernel: tf.Tensor2D;
  bias: tf.Tensor1D;
  activation: 'relu' | 'linear';
}

type LayerLike = tf.layers.Layer & { inboundNodes?: { inboundLayers: tf.layers.Layer[] }[] };

const inboundOf = (layer: LayerLike) => layer.inboundNodes?.[0]?.inboundLayers ?? [];

/**
 * The dense steps of a chain InputLayer → (Dense | Dropout)* → Dense, or undefined for any
 * other shape. Dropout is the identity when serving.
 */
function denseChain(model: tf.LayersModel, created: tf.Tensor[]): DenseStep[] | undefined {
  const layers = model.layers as LayerLike[];
  if (layers.length < 2 || layers[0].getClassName() !== 'InputLayer') return undefined;
  const steps: DenseStep[] = [];
  for (let i = 1; i < layers.length; i++) {
    const layer = layers[i];
    const inbound = inboundOf(layer);
    if (inbound.length !== 1 || inbound[0] !== layers[i - 1]) return undefined;
    const kind = layer.getClassName();
    if (kind === 'Dropout') continue;
    if (kind !== 'Dense') return undefined;
    const config = layer.getConfig() as { activation?: string; useBias?: boolean };
    if (config.activation !== 'relu' && config.activation !== 'linear') return undefined;
    const [kernel, bias] = layer.getWeights() as [tf.Tensor2D, tf.Tensor1D | undefined];
    // getWeights() hands out the layer's own variables; only a missing bias is made here.
    let stepBias = bias;
    if (!stepBias) {
      stepBias = tf.zeros([kernel.shape[1]]) as tf.Tensor1D;
      created.push(stepBias);
    }
    steps.push({ kernel, bias: stepBias, activation: config.activation });
  }
  const last = layers[layers.length - 1];
  return last.getClassName() === 'Dense' ? steps : undefined;
}

/** The members of an ensemble (InputLayer → members → Average), each a dense chain; or the network itself as one. */
function membersOf(network: tf.LayersModel, created: tf.Tensor[]): DenseStep[][] | undefined {
  const single = denseChain(network, created);
  if (single) return [single];
  const layers = network.layers as LayerLike[];
  const last = layers[layers.length - 1];
  if (layers[0]?.getClassName() !== 'InputLayer' || last.getClassName() !== 'Average') return undefined;
  const inner = layers.slice(1, -1);
  const averaged = inboundOf(last);
  if (inner.length === 0 || averaged.length !== inner.length || inner.some((m, i) => averaged[i] !== m)) return undefined;
  const members: DenseStep[][] = [];
  for (const member of inner) {
    // A member keeps the node of its own input too: it must also be called on the ensemble's.
    const readsInput = member.inboundNodes?.some((node) => node.inboundLayers.length === 1 && node.inboundLayers[0] === layers[0]);
    if (!(member instanceof tf.LayersModel) || !readsInput) return undefined;
    const chain = denseChain(member, created);
    if (!chain) return undefined;
    members.push(chain);
  }
  return members;
}

/** The same activations at every depth, so that members can be merged depth by depth. */
function mergeable(members: DenseStep[][]): boolean {
  return members.every((m) => m.length === members[0].length && m.every((step, d) => step.activation === members[0][d].activation));
}

/** Matrices side by side on the diagonal, zeros elsewhere. */
function blockDiagonal(blocks: tf.Tensor2D[]): tf.Tensor2D {
  const rows = blocks.reduce((sum, b) => sum + b.shape[0], 0);
  const cols = blocks.reduce((sum, b) => sum + b.shape[1], 0);
  const out = new Float32Array(rows * cols);
  let r0 = 0;
  let c0 = 0;
  for (const block of blocks) {
    const [r, c] = block.shape;
    const values = block.dataSync();
    for (let i = 0; i < r; i++) out.set(values.subarray(i * c, (i + 1) * c), (r0 + i) * cols + c0);
    r0 += r;
    c0 += c;
  }
  return tf.tensor2d(out, [rows, cols]);
}

/**
 * One network equal to the average of the members: the first layers side by side (they
 * read the same input), the hidden ones block-diagonal, the heads stacked and scaled by 1/k.
 */
function mergeMembers(members: DenseStep[][]): DenseStep[] {
  const k = members.length;
  const depth = members[0].length;
  return tf.tidy(() =>
    members[0].map((_, d) => {
      const kernels = members.map((m) => m[d].kernel);
      const biases = members.map((m) => m[d].bias);
      const activation = members[0][d].activation;
      if (d === depth - 1) {
        const kernel = (depth === 1 ? tf.addN(kernels) : tf.concat(kernels, 0)).div(k) as tf.Tensor2D;
        return { kernel: tf.keep(kernel), bias: tf.keep(tf.addN(biases).div(k) as tf.Tensor1D), activation };
      }
      const kernel = d === 0 ? (tf.concat(kernels, 1) as tf.Tensor2D) : blockDiagonal(kernels);
      return { kernel: tf.keep(kernel), bias: tf.keep(tf.concat(biases, 0) as tf.Tensor1D), activation };
    }),
  );
}

function runChain(x: tf.Tensor2D, steps: readonly DenseStep[]): tf.Tensor2D {
  let h = x;
  for (const { kernel, bias, activation } of steps) h = tf.fused.matMul({ a: h, b: kernel, bias, activation }) as tf.Tensor2D;
  return h;
}

/**
 * Compiles a network's forward pass for serving. Networks of another shape than
 * buildNetwork's chains and averageNetworks' ensembles run through `apply()` as before.
 * The result must be called inside `tf.tidy` or its output disposed.
 */
export function compileNetwork(network: tf.LayersModel): CompiledNetwork {
  const owned: tf.Tensor[] = [];
  const members = membersOf(network, owned);
  if (!members) {
    owned.forEach((t) => t.dispose());
    return { forward: (x) => network.apply(x, { training: false }) as tf.Tensor2D, fused: false, dispose: () => {} };
  }
  const merged = members.length > 1 && mergeable(members) ? mergeMembers(members) : undefined;
  const k = members.length;
  const forward: Forward = (x) => {
    if (k === 1) return runChain(x, members[0]);
    if (merged && x.shape[0] <= MERGED_MAX_ROWS) return runChain(x, merged);
    return tf.addN(members.map((m) => runChain(x, m))).div(k) as tf.Tensor2D;
  };
  return {
    forward,
    fused: true,
    dispose() {
      for (const step of merged ?? []) owned.push(step.kernel, step.bias);
      owned.forEach((t) => t.dispose());
      owned.length = 0;
    },
  };
}
