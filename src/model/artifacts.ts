import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { FEATURE_NAMES, FEATURE_VERSION } from './features.js';
import { compileNetwork, type Forward } from './forward.js';
import { decodeRow, OUTPUT_SIZE } from './network.js';
import { lowestRatioGiven, type FareModel, type Prediction } from './predictor.js';
import { tf } from './tf.js';

/**
 * Model files on disk: models/<version>/{model.json, weights.bin, meta.json}, and
 * models/current naming the serving version. model.json follows the tfjs layers
 * format, so tfjs-node's file:// loader reads the same files.
 */

/** The name of the file that holds the serving version. */
export const POINTER_FILE = 'current';

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** True for a safe version name: it becomes a folder name. */
export function isValidVersion(version: string): boolean {
  return VERSION_RE.test(version) && version !== POINTER_FILE;
}

/** A new version name: UTC time of training plus a random suffix, e.g. `m20160401-093000-3fa2`. */
export function newVersion(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `m${stamp}-${randomBytes(2).toString('hex')}`;
}

const metricValue = z.number().nullable();

/** Everything saved next to the weights: the feature spec, normalisation, window, metrics. */
export const ModelMetaSchema = z.object({
  format: z.literal(1),
  version: z.string(),
  trainedAt: z.string(),
  featureVersion: z.number().int(),
  featureNames: z.array(z.string()),
  normalization: z.object({ mean: z.array(z.number()), std: z.array(z.number()) }),
  architecture: z.object({ hidden: z.array(z.number().int()), dropout: z.number(), l2: z.number() }),
  /** The event time the model learnt from (ISO), and how much data that was. */
  window: z.object({
    from: z.string().nullable(),
    to: z.string().nullable(),
    events: z.number().int(),
    trainingRows: z.number().int(),
    validationFrom: z.string().nullable(),
  }),
  training: z.object({
    epochs: z.number().int(),
    bestEpoch: z.number().int(),
    trainLoss: metricValue,
    validationLoss: metricValue,
    seconds: z.number(),
  }),
  /** The buy/wait rule tuned with the model: wait while the probability of a cheaper price exceeds it. */
  decision: z.object({ waitThreshold: z.number() }),
  /**
   * The 80% interval's distances from the median are multiplied by this before the quantiles are
   * made to agree with P(cheaper later) ({@link finishQuantiles}): the narrowest scale, from 0.5 to
   * 4, whose interval covers 80% of the validation series' outcomes.
   */
  calibration: z.object({ intervalScale: z.number().positive() }).optional(),
  metrics: z.record(z.string(), metricValue),
  backend: z.string(),
});

export type ModelMeta = z.infer<typeof ModelMetaSchema>;

/** A FareModel with the network and metadata it was built from. */
export interface LoadedFareModel extends FareModel {
  meta: ModelMeta;
  network: tf.LayersModel;
}

/** Why a model cannot serve with this code's features, or undefined when it can. */
export function incompatibility(meta: Pick<ModelMeta, 'featureVersion' | 'featureNames'>): string | undefined {
  if (meta.featureVersion !== FEATURE_VERSION) {
    return `it was trained on feature version ${meta.featureVersion}, this code computes version ${FEATURE_VERSION}`;
  }
  if (meta.featureNames.length !== FEATURE_NAMES.length || meta.featureNames.some((n, i) => n !== FEATURE_NAMES[i])) {
    return 'its feature names differ from this code\'s';
  }
  return undefined;
}

const clampRatio = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0.01, x)) : 1);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Normalises vectors into one row-major Float32Array, the network's input. */
export function normalize(vectors: readonly (readonly number[])[], mean: readonly number[], std: readonly number[]): Float32Array {
  const width = mean.length;
  const out = new Float32Array(vectors.length * width);
  for (let r = 0; r < vectors.length; r++) {
    const v = vectors[r];
    if (v.length !== width) throw new Error(`feature vector ${r} has ${v.length} values; the model expects ${width}`);
    for (let c = 0; c < width; c++) out[r * width + c] = (v[c] - mean[c]) / std[c];
  }
  return out;
}

/** Raw predictions as flat arrays, for evaluation code that handles many rows. */
export interface RawPredictions {
  probability: Float32Array;
  q10: Float32Array;
  q50: Float32Array;
  q90: Float32Array;
}

/**
 * The quantiles of the lowest price still to come as served, in place: the interval widened (or
 * narrowed) around the median by `scale`, then made to agree with P(cheaper later)
 * ({@link lowestRatioGiven}): a "buy" (p ≤ 0.5) then expects no lower price, and the interval
 * reaches today's price unless a drop is over 90% likely. The quantile head is trained on complete
 * series only and on its own; without this, 45% of the backtest's "buy" days expected a lowest
 * price more than 1% below today's. Apply it once to a set of predictions.
 */
export function finishQuantiles(raw: RawPredictions, scale: number): RawPredictions {
  for (let i = 0; i < raw.q50.length; i++) {
    const q50 = raw.q50[i];
    // A row not predicted (NaN) fails every comparison and stays NaN.
    const finished = lowestRatioGiven(raw.probability[i], {
      q10: q50 - scale * (q50 - raw.q10[i]),
      q50,
      q90: q50 + scale * (raw.q90[i] - q50),
    });
    raw.q10[i] = finished.q10;
    raw.q50[i] = finished.q50;
    raw.q90[i] = finished.q90;
  }
  return raw;
}

/**
 * Runs the network (or its compiled forward pass) on already-normalised rows, in chunks so
 * memory stays flat. The raw outputs are read back and decoded in JavaScript
 * ({@link decodeRow}): cheaper than a handful of tfjs operations per chunk.
 */
export function predictRaw(network: tf.LayersModel | Forward, input: Float32Array, width: number, chunk = 16_384): RawPredictions {
  // apply(), not predict(): predict() slices its input into batches of 32, which is very slow on wasm.
  const forward: Forward = typeof network === 'function' ? network : (x) => network.apply(x, { training: false }) as tf.Tensor2D;
  const n = input.length / width;
  const out: RawPredictions = {
    probability: new Float32Array(n),
    q10: new Float32Array(n),
    q50: new Float32Array(n),
    q90: new Float32Array(n),
  };
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const raw = tf.tidy(() => {
      const x = tf.tensor2d(input.subarray(start * width, end * width), [end - start, width]);
      return forward(x).dataSync() as Float32Array;
    });
    for (let i = start; i < end; i++) {
      const heads = decodeRow(raw, (i - start) * OUTPUT_SIZE);
      out.probability[i] = sigmoid(heads.logit);
      out.q10[i] = heads.q10;
      out.q50[i] = heads.q50;
      out.q90[i] = heads.q90;
    }
  }
  return out;
}

/** Wraps a network and its metadata as a ready-to-serve FareModel. */
export function createFareModel(network: tf.LayersModel, meta: ModelMeta): LoadedFareModel {
  const width = meta.featureNames.length;
  const compiled = compileNetwork(network);
  let disposed = false;
  return {
    version: meta.version,
    trainedAt: meta.trainedAt,
    backend: tf.getBackend(),
    waitThreshold: meta.decision.waitThreshold,
    meta,
    network,
    predict(vectors) {
      if (disposed) throw new Error(`model ${meta.version} was disposed`);
      if (vectors.length === 0) return [];
      const raw = finishQuantiles(
        predictRaw(compiled.forward, normalize(vectors, meta.normalization.mean, meta.normalization.std), width),
        meta.calibration?.intervalScale ?? 1,
      );
      const out: Prediction[] = new Array(vectors.length);
      for (let i = 0; i < vectors.length; i++) {
        // Quantiles are ordered by construction; clamping to (0, 1] keeps them so.
        const q10 = clampRatio(raw.q10[i]);
        const q50 = Math.max(q10, clampRatio(raw.q50[i]));
        const q90 = Math.max(q50, clampRatio(raw.q90[i]));
        const p = raw.probability[i];
        out[i] = { probabilityCheaperLater: Number.isFinite(p) ? p : 0.5, lowestRatio: { q10, q50, q90 } };
      }
      return out;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      network.dispose();
    },
  };
}

/** Serialises a network into tfjs layers-format JSON and one weights buffer. */
export async function serializeNetwork(network: tf.LayersModel): Promise<{ modelJson: object; weights: Uint8Array }> {
  let captured: tf.io.ModelArtifacts | undefined;
  await network.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!captured?.weightData || !captured.weightSpecs) throw new Error('tfjs saved no weights');
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(captured.weightData));
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    modelTopology: captured.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: captured.weightSpecs }],
  };
  return { modelJson, weights };
}

/**
 * Writes models/<version>/ atomically: into a temporary folder first, renamed
 * into place, so a reader never sees half a model. Returns the folder.
 */
export async function saveModel(modelsDir: string, network: tf.LayersModel, meta: ModelMeta): Promise<string> {
  if (!isValidVersion(meta.version)) throw new Error(`invalid model version "${meta.version}"`);
  const { modelJson, weights } = await serializeNetwork(network);
  await mkdir(modelsDir, { recursive: true });
  const target = join(modelsDir, meta.version);
  const staging = join(modelsDir, `.staging-${meta.version}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging);
  try {
    await writeFile(join(staging, 'model.json'), JSON.stringify(modelJson));
    await writeFile(join(staging, 'weights.bin'), weights);
    await writeFile(join(staging, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    await rename(staging, target);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return target;
}

/** Reads and validates a model's meta.json. */
export async function readModelMeta(modelsDir: string, version: string): Promise<ModelMeta> {
  if (!isValidVersion(version)) throw new Error(`invalid model version "${version}"`);
  const text = await readFile(join(modelsDir, version, 'meta.json'), 'utf8');
  const parsed = ModelMetaSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`meta.json of ${version} is invalid: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Thrown when a model on disk is readable but cannot serve with this code. */
export class IncompatibleModelError extends Error {
  override name = 'IncompatibleModelError';
}

/**
 * Loads models/<version>/ into a FareModel. Throws when a file is missing or
 * corrupt, when the model was trained on other features, or when it predicts
 * non-finite values. Call {@link initTensorflow} first.
 */
export async function loadModel(modelsDir: string, version: string): Promise<LoadedFareModel> {
  const meta = await readModelMeta(modelsDir, version);
  if (meta.version !== version) throw new Error(`meta.json of ${version} names version ${meta.version}`);
  const reason = incompatibility(meta);
  if (reason) throw new IncompatibleModelError(`model ${version} cannot serve: ${reason}`);
  const width = meta.featureNames.length;
  if (meta.normalization.mean.length !== width || meta.normalization.std.length !== width) {
    throw new Error(`meta.json of ${version} has normalisation of the wrong length`);
  }
  const dir = join(modelsDir, version);
  const modelJson = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as {
    modelTopology?: object;
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const manifest = modelJson.weightsManifest?.[0];
  if (!modelJson.modelTopology || !manifest) throw new Error(`model.json of ${version} lacks its topology or weights manifest`);
  const bytes = await readFile(join(dir, 'weights.bin'));
  const expected = manifest.weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (bytes.byteLength !== expected) {
    throw new Error(`weights.bin of ${version} has ${bytes.byteLength} bytes; its manifest needs ${expected}`);
  }
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const network = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: manifest.weights, weightData }),
  );
  const inputShape = (network.inputs[0].shape ?? []) as (number | null)[];
  const outputShape = (network.outputs[0].shape ?? []) as (number | null)[];
  if (inputShape[1] !== width || outputShape[1] !== OUTPUT_SIZE) {
    network.dispose();
    throw new Error(`model ${version} has shape ${JSON.stringify(inputShape)} → ${JSON.stringify(outputShape)}`);
  }
  const model = createFareModel(network, meta);
  const probe = model.predict([meta.normalization.mean]);
  const values = [probe[0].probabilityCheaperLater, ...Object.values(probe[0].lowestRatio)];
  if (values.some((v) => !Number.isFinite(v))) {
    model.dispose();
    throw new Error(`model ${version} predicts non-finite values`);
  }
  return model;
}

/** The version models/current names, or undefined when there is none. */
export async function readPointer(modelsDir: string): Promise<string | undefined> {
  try {
    const version = (await readFile(join(modelsDir, POINTER_FILE), 'utf8')).trim();
    return version === '' ? undefined : version;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Points models/current at `version`, atomically (write then rename). */
export async function writePointer(modelsDir: string, version: string): Promise<void> {
  if (!isValidVersion(version)) throw new Error(`invalid model version "${version}"`);
  await mkdir(modelsDir, { recursive: true });
  const temp = join(modelsDir, `.${POINTER_FILE}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await writeFile(temp, `${version}\n`);
  await rename(temp, join(modelsDir, POINTER_FILE));
}
