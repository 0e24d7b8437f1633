import { FEATURE_NAMES } from '../../src/model/features.js';
import type { FareModel, ModelProvider, Prediction } from '../../src/model/predictor.js';
import { createService, type Service } from '../../src/service.js';
import { cleanupTemp, testConfig } from './service.js';

/**
 * A TEST DOUBLE of a fare model, not a model: its outputs are a fixed function of
 * one feature (the price against the route's typical price) and of its own settings,
 * so tests can tell from a forecast's values which model made it.
 */
export interface ModelDoubleOptions {
  version: string;
  /** Logit of probabilityCheaperLater when the price equals the route's typical price. */
  bias?: number;
  /** Weight of the log price against the route's typical price. */
  weight?: number;
  /** lowestRatio.q50; q10 and q90 are 0.1 below and 0.05 above it (capped at 1). */
  medianRatio?: number;
  trainedAt?: string;
  /** Counts predict calls and rows, for batching assertions. */
  calls?: number[];
}

/** Index of `price_vs_route_typical` in the feature vector. */
const PRICE_VS_TYPICAL = FEATURE_NAMES.indexOf('price_vs_route_typical');

export function createModelDouble(options: ModelDoubleOptions): FareModel & { calls: number[]; disposed: boolean } {
  const bias = options.bias ?? 0;
  const weight = options.weight ?? 0;
  const q50 = options.medianRatio ?? 0.9;
  const calls: number[] = options.calls ?? [];
  const model = {
    version: options.version,
    trainedAt: options.trainedAt ?? '2016-03-01T00:00:00.000Z',
    backend: 'test-double',
    calls,
    disposed: false,
    predict(vectors: readonly (readonly number[])[]): Prediction[] {
      if (model.disposed) throw new Error(`model double ${options.version} was disposed`);
      calls.push(vectors.length);
      return vectors.map((v) => ({
        probabilityCheaperLater: 1 / (1 + Math.exp(-(bias + weight * (v[PRICE_VS_TYPICAL] ?? 0)))),
        lowestRatio: { q10: Math.max(0.01, q50 - 0.1), q50, q90: Math.min(1, q50 + 0.05) },
      }));
    },
    dispose() {
      model.disposed = true;
    },
  };
  return model;
}

/** A provider whose model a test swaps at will; swap() is one assignment, like the real one's. */
export interface SwappableProvider extends ModelProvider {
  swap(model: FareModel | undefined): void;
}

export function createSwappableProvider(initial?: FareModel): SwappableProvider {
  let model = initial;
  return {
    current: () => model,
    swap(next) {
      model = next;
    },
  };
}

const services = new Set<Service>();

/** A service on an in-memory database that serves the given provider's models. */
export function makeForecastService(
  provider: ModelProvider,
  options: { start?: boolean; pollIntervalMs?: number; config?: Parameters<typeof testConfig>[0] } = {},
): Service {
  const config = testConfig(options.config);
  const service = createService({ config, modelProvider: provider, pollIntervalMs: options.pollIntervalMs ?? 50 });
  services.add(service);
  if (options.start ?? true) service.runtime.start();
  return service;
}

/** Closes every service {@link makeForecastService} built. Call from afterEach. */
export async function closeForecastServices(): Promise<void> {
  for (const service of [...services]) {
    services.delete(service);
    await service.close();
  }
  cleanupTemp();
}
