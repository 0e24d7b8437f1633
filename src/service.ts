import { createApp } from './app.js';
import type { Config } from './config.js';
import { startWalCheckpoints, type WalCheckpoints } from './db/checkpoints.js';
import { openDatabase, type DatabaseHandle } from './db/client.js';
import { createSqliteForecastStore } from './db/forecast-store.js';
import { createSqliteRuntimeStorage } from './db/runtime-storage.js';
import { createSqliteRouteStatsStore, createSqliteSeriesStore } from './db/stores.js';
import type { FunctionDeps } from './functions/deps.js';
import { INLINE_EVENT_TYPES } from './events/catalog.js';
import { functions as defaultFunctions } from './functions/index.js';
import { parseApiKeys } from './http/auth.js';
import { createIngestCommitter } from './ingest.js';
import type { AppDeps } from './http/context.js';
import { createLogger, type Logger } from './logger.js';
import type { ModelProvider } from './model/predictor.js';
import { createModelProvider } from './model/provider.js';
import { createFunctionStateStore, createModelRegistry } from './db/model-registry.js';
import { hasFareEvents, readFareEvents } from './db/training-events.js';
import type { RetrainDeps } from './functions/retrain.js';
import { DEFAULT_MIN_EVENTS, type RetrainJob } from './model/retrain.js';
import { runRetrainInChild } from './model/retrain-runner.js';
import type { FaresightFunction } from './runtime/define.js';
import { createRuntime, type Runtime } from './runtime/runtime.js';
import type { RuntimeStorage } from './runtime/types.js';

export type ServiceConfig = Pick<
  Config,
  | 'FARESIGHT_DB_PATH'
  | 'FARESIGHT_DB_SYNCHRONOUS'
  | 'FARESIGHT_API_KEYS'
  | 'FARESIGHT_REQUIRE_KEY_FOR_READS'
  | 'FARESIGHT_MODELS_DIR'
> &
  Partial<Pick<Config, 'FARESIGHT_RATE_LIMIT_PER_MINUTE'>> &
  Partial<Pick<Config, 'FARESIGHT_RETRAIN_AFTER_EVENTS' | 'FARESIGHT_FORECAST_CACHE_MB'>>;

/** A model provider, optionally one that can be closed and re-read on demand (the file provider can). */
export type ServiceModelProvider = ModelProvider & { close?(): void; refresh?(): Promise<unknown> };

export interface ServiceOptions {
  config: ServiceConfig;
  logger?: Logger;
  /** Replaces the registered functions, for tests. */
  functions?: readonly FaresightFunction<any, FunctionDeps>[];
  pollIntervalMs?: number;
  /** Replaces the provider that follows FARESIGHT_MODELS_DIR/current, for tests. */
  modelProvider?: ServiceModelProvider;
  /** Settings of every retrain this service runs (tests use tiny trainings). */
  retrainJob?: Partial<Omit<RetrainJob, 'modelsDir' | 'reason'>>;
  /** How often a file database's WAL is checkpointed between transactions (see startWalCheckpoints). */
  checkpointIntervalMs?: number;
}

/** The whole service, wired: database, runtime, functions and HTTP app. */
export interface Service {
  app: ReturnType<typeof createApp>;
  database: DatabaseHandle;
  storage: RuntimeStorage;
  runtime: Runtime;
  functionDeps: FunctionDeps;
  logger: Logger;
  /** The serving model, followed on disk (models/current) unless a test replaced it. */
  modelProvider: ServiceModelProvider;
  /** The WAL checkpoints of a file database; undefined for `:memory:`. */
  checkpoints: WalCheckpoints | undefined;
  /** Stops the runtime, letting in-flight work finish, then closes the database. */
  close(): Promise<void>;
}

/** Builds the service without starting it. Use `:memory:` as the database path in tests. */
export function createService(options: ServiceOptions): Service {
  const { config } = options;
  const logger = options.logger ?? createLogger('silent');
  const database = openDatabase({ path: config.FARESIGHT_DB_PATH, synchronous: config.FARESIGHT_DB_SYNCHRONOUS });
  const storage = createSqliteRuntimeStorage(database.sqlite);
  const modelProvider: ServiceModelProvider = options.modelProvider ?? createModelProvider({ modelsDir: config.FARESIGHT_MODELS_DIR, logger });
  const inMemory = config.FARESIGHT_DB_PATH === ':memory:';
  const checkpoints = inMemory ? undefined : startWalCheckpoints(database.sqlite, options.checkpointIntervalMs);
  // Closing the service stops a training in progress instead of waiting minutes for it.
  const stopTraining = new AbortController();
  const retrainDeps: RetrainDeps = {
    // A file database is read by the training process itself; an in-memory one is handed over.
    run: (reason) =>
      runRetrainInChild(
        {
          job: { ...options.retrainJob, modelsDir: config.FARESIGHT_MODELS_DIR, reason },
          ...(inMemory ? { events: readFareEvents(database.sqlite) } : { dbPath: config.FARESIGHT_DB_PATH }),
        },
        { signal: stopTraining.signal },
      ),
    registry: createModelRegistry(database.sqlite),
    state: createFunctionStateStore(database.sqlite),
    modelsDir: config.FARESIGHT_MODELS_DIR,
    // Unset (tests build configs by hand): only the schedule and operators trigger retrains.
    afterEvents: config.FARESIGHT_RETRAIN_AFTER_EVENTS ?? 0,
    refreshModel: modelProvider.refresh && (() => modelProvider.refresh!()),
    enoughData: () => hasFareEvents(database.sqlite, options.retrainJob?.minEvents ?? DEFAULT_MIN_EVENTS),
  };
  const functionDeps: FunctionDeps = {
    series: createSqliteSeriesStore(database.sqlite),
    routes: createSqliteRouteStatsStore(database.sqlite),
    logger,
    model: modelProvider,
    forecasts: createSqliteForecastStore(database.sqlite),
    retrain: retrainDeps,
  };
  const runtime = createRuntime({
    storage,
    functions: options.functions ?? defaultFunctions,
    deps: functionDeps,
    logger,
    pollIntervalMs: options.pollIntervalMs,
    inlineTypes: INLINE_EVENT_TYPES,
  });
  const deps: AppDeps = {
    config,
    database,
    storage,
    ingest: createIngestCommitter(storage),
    runtime,
    functionDeps,
    logger,
    auth: {
      keys: parseApiKeys(config.FARESIGHT_API_KEYS),
      requireKeyForReads: config.FARESIGHT_REQUIRE_KEY_FOR_READS,
      rateLimitPerMinute: config.FARESIGHT_RATE_LIMIT_PER_MINUTE,
    },
  };
  const app = createApp(deps);
  return {
    app,
    database,
    storage,
    runtime,
    functionDeps,
    logger,
    modelProvider,
    checkpoints,
    async close() {
      stopTraining.abort();
      await runtime.stop();
      modelProvider.close?.();
      checkpoints?.stop();
      database.close();
    },
  };
}
