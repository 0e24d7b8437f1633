import { createFareModel, newVersion, saveModel, writePointer, type LoadedFareModel, type ModelMeta } from './artifacts.js';
import { FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION } from './features.js';
import { buildNetwork } from './network.js';
import { initTensorflow, tf } from './tf.js';

/**
 * Tiny, untrained models for tests of code that serves a model (predict, forecast
 * API, provider). Their predictions are deterministic for a seed but meaningless.
 */
export interface TinyModelOptions {
  version?: string;
  seed?: number;
  waitThreshold?: number;
  /** Metrics to record in meta.json. */
  metrics?: Record<string, number | null>;
}

/** The meta.json of a model with identity normalisation and no training. */
export function tinyMeta(version: string, options: TinyModelOptions = {}): ModelMeta {
  return {
    format: 1,
    version,
    trainedAt: new Date().toISOString(),
    featureVersion: FEATURE_VERSION,
    featureNames: [...FEATURE_NAMES],
    normalization: { mean: new Array(FEATURE_COUNT).fill(0), std: new Array(FEATURE_COUNT).fill(1) },
    architecture: { hidden: [4], dropout: 0, l2: 0 },
    window: { from: null, to: null, events: 0, trainingRows: 0, validationFrom: null },
    training: { epochs: 0, bestEpoch: 0, trainLoss: null, validationLoss: null, seconds: 0 },
    decision: { waitThreshold: options.waitThreshold ?? 0.5 },
    metrics: options.metrics ?? {},
    backend: tf.getBackend(),
  };
}

/** Builds an untrained FareModel in memory (a 4-unit network). */
export async function createTinyModel(options: TinyModelOptions = {}): Promise<LoadedFareModel> {
  await initTensorflow();
  const network = buildNetwork({ inputSize: FEATURE_COUNT, hidden: [4], seed: options.seed ?? 7 });
  return createFareModel(network, tinyMeta(options.version ?? newVersion(), options));
}

/** Writes an untrained model to models/<version>/ and, with `promote`, points models/current at it. */
export async function writeTinyModel(
  modelsDir: string,
  options: TinyModelOptions & { promote?: boolean } = {},
): Promise<string> {
  const model = await createTinyModel(options);
  try {
    await saveModel(modelsDir, model.network, model.meta);
    if (options.promote) await writePointer(modelsDir, model.version);
    return model.version;
  } finally {
    model.dispose();
  }
}
