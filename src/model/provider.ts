import { loadModel, readPointer, type LoadedFareModel } from './artifacts.js';
import type { FareModel, ModelProvider } from './predictor.js';
import { initTensorflow, type BackendLogger } from './tf.js';

/** Where the provider reports loads, swaps and problems; a pino logger fits. */
export interface ProviderLogger extends BackendLogger {
  error(obj: object, msg: string): void;
}

export interface ModelProviderOptions {
  /** The folder holding models/<version>/ and the `current` pointer. */
  modelsDir: string;
  logger?: ProviderLogger;
  /** How often to check whether the pointer names another version. */
  pollIntervalMs?: number;
  /** How long a replaced model stays usable for requests that still hold it. */
  disposeGraceMs?: number;
  /** How long to wait before trying again a version that failed to load. */
  retryFailedMs?: number;
}

/** A {@link ModelProvider} that follows models/current on disk. */
export interface FileModelProvider extends ModelProvider {
  current(): LoadedFareModel | undefined;
  /** Resolves once the first load attempt finished (successfully or not). */
  ready(): Promise<void>;
  /** Re-reads the pointer now and swaps if it changed; resolves to the serving model. */
  refresh(): Promise<LoadedFareModel | undefined>;
  /** The version the pointer named at the last check, even if it failed to load. */
  pointer(): string | undefined;
  /** The last load problem, if the pointer names a model that could not be served. */
  lastError(): string | undefined;
  /** Stops polling and frees every model. */
  close(): void;
}

const silent: ProviderLogger = { info() {}, warn() {}, error() {} };

/**
 * Serves the model models/current names and follows the pointer: every
 * `pollIntervalMs` (default 2 s) it re-reads it, so a model promoted by another
 * process (`npm run retrain`) is picked up without a restart. A swap is one
 * reference assignment; the old model is disposed after a grace period. A
 * missing or corrupt model never throws here: the last good one keeps serving,
 * and with none, current() is undefined.
 */
export function createModelProvider(options: ModelProviderOptions): FileModelProvider {
  const { modelsDir } = options;
  const logger = options.logger ?? silent;
  const graceMs = options.disposeGraceMs ?? 30_000;
  let serving: LoadedFareModel | undefined;
  let pointer: string | undefined;
  let failedVersion: string | undefined;
  let failedAt = 0;
  const retryFailedMs = options.retryFailedMs ?? 30_000;
  let lastError: string | undefined;
  let closed = false;
  const retiring = new Set<{ model: LoadedFareModel; timer: NodeJS.Timeout }>();
  // Checks run one after another, never overlapping.
  let chain: Promise<unknown> = Promise.resolve();

  function retire(model: LoadedFareModel): void {
    const entry = {
      model,
      timer: setTimeout(() => {
        retiring.delete(entry);
        model.dispose();
      }, graceMs),
    };
    entry.timer.unref();
    retiring.add(entry);
  }

  async function check(): Promise<LoadedFareModel | undefined> {
    if (closed) return serving;
    let version: string | undefined;
    try {
      version = await readPointer(modelsDir);
    } catch (error) {
      lastError = `cannot read the model pointer: ${String(error)}`;
      logger.error({ modelsDir, err: lastError }, 'model pointer unreadable; keeping the serving model');
      return serving;
    }
    pointer = version;
    if (version === undefined) {
      if (!serving && lastError === undefined) logger.warn({ modelsDir }, 'no model to serve: models/current is missing');
      lastError ??= 'no model: models/current is missing';
      return serving;
    }
    // Same version, or one that failed recently: nothing to do until the pointer moves.
    if (version === serving?.version) return serving;
    if (version === failedVersion && Date.now() - failedAt < retryFailedMs) return serving;
    try {
      await initTensorflow({ logger });
      const model = await loadModel(modelsDir, version);
      if (closed) {
        model.dispose();
        return serving;
      }
      const previous = serving;
      serving = model;
      failedVersion = undefined;
      lastError = undefined;
      if (previous) retire(previous);
      logger.info({ version, previous: previous?.version, backend: model.backend }, 'serving model loaded');
    } catch (error) {
      failedVersion = version;
      failedAt = Date.now();
      lastError = `model ${version} could not be loaded: ${error instanceof Error ? error.message : String(error)}`;
      logger.error({ version, serving: serving?.version, err: lastError }, 'model load failed; keeping the serving model');
    }
    return serving;
  }

  const refresh = () => {
    const next = chain.then(check, check);
    chain = next;
    return next;
  };

  const first = refresh();
  const timer = setInterval(() => void refresh(), options.pollIntervalMs ?? 2000);
  timer.unref();

  return {
    current: () => serving,
    ready: () => first.then(() => undefined),
    refresh,
    pointer: () => pointer,
    lastError: () => lastError,
    close() {
      closed = true;
      clearInterval(timer);
      for (const entry of retiring) {
        clearTimeout(entry.timer);
        entry.model.dispose();
      }
      retiring.clear();
      serving?.dispose();
      serving = undefined;
    },
  };
}

/** A provider that always serves one given model (or none): for tests and tools. */
export function createStaticModelProvider(model: FareModel | undefined): ModelProvider {
  return { current: () => model };
}
