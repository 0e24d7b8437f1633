import { tf } from './tf.js';

/**
 * The serving forward pass. A layers model runs every layer through tfjs-layers' graph
 * executor, which costs 0.2–0.3 ms per call for the averaged ensemble whatever the batch
 * size (on wasm): more than the arithmetic for the few dozen rows a predict invocation
 * holds. This runs the networks that {@link buildNetwork} and {@link averageNetworks} make
 * as fused matrix products on the same weights, member by member: for the shipped ensemble,
 * 149 against 363 µs for one row, 225 against 401 µs for 60, 1.95 against 2.17 ms for 1,000.
 * (Merging the members into one block-diagonal network is faster still for small batches, but
 * two paths by batch size gave a row predictions that differed in the 7th digit with its batch.)
 */

/** Runs normalised rows [n, inputs] to raw outputs [n, outputs]. */
export type Forward = (x: tf.Tensor2D) => tf.Tensor2D;

/** A network's forward pass, on the network's own weights: it holds no tensors of its own. */
export interface CompiledNetwork {
  forward: Forward;
  /** True when the network's layers were recognised and run as fused products. */
  fused: boolean;
}

interface DenseStep {
  kernel: tf.Tensor2D;
  /** Absent for a layer without one. */
  bias?: tf.Tensor1D;
  activation: 'relu' | 'linear';
}

type LayerLike = tf.layers.Layer & { inboundNodes?: { inboundLayers: tf.layers.Layer[] }[] };

const inboundOf = (layer: LayerLike) => layer.inboundNodes?.[0]?.inboundLayers ?? [];

/**
 * The dense steps of a chain InputLayer → (Dense | Dropout)* → Dense, or undefined for any
 * other shape. Dropout is the identity when serving.
 */
function denseChain(model: tf.LayersModel): DenseStep[] | undefined {
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
    // getWeights() hands out the layer's own variables, not copies.
    const [kernel, bias] = layer.getWeights() as [tf.Tensor2D, tf.Tensor1D | undefined];
    steps.push({ kernel, bias, activation: config.activation });
  }
  const last = layers[layers.length - 1];
  return last.getClassName() === 'Dense' ? steps : undefined;
}

/** The members of an ensemble (InputLayer → members → Average), each a dense chain; or the network itself as one. */
function membersOf(network: tf.LayersModel): DenseStep[][] | undefined {
  const single = denseChain(network);
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
    const chain = denseChain(member);
    if (!chain) return undefined;
    members.push(chain);
  }
  return members;
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
  const members = membersOf(network);
  if (!members) return { forward: (x) => network.apply(x, { training: false }) as tf.Tensor2D, fused: false };
  const k = members.length;
  // One path whatever the batch: a row's prediction must not depend on the rows batched with it
  // (a replay batches events differently and must store the same forecasts).
  const forward: Forward = (x) => (k === 1 ? runChain(x, members[0]) : (tf.addN(members.map((m) => runChain(x, m))).div(k) as tf.Tensor2D));
  return { forward, fused: true };
}
