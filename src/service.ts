import { createApp } from './app.js';
import type { Config } from './config.js';
import { openDatabase, type DatabaseHandle } from './db/client.js';
import { createSqliteForecastStore } from './db/forecast-store.js';
import { createSqliteRuntimeStorage } from './db/runtime-storage.js';
import { createSqliteRouteStatsStore, createSqliteSeriesStore } from './db/stores.js';
import type { FunctionDeps } from './functions/deps.js';
import { functions as defaultFunctions } from './functions/index.js';
import { parseApiKeys } from './http/auth.js';
import type { AppDeps } from './http/context.js';
import { createLogger, type Logger } from './logger.js';
import type { ModelProvider } from './model/predictor.js';
import { createModelProvider } from './model/provider.js';
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
  Partial<Pick<Config, 'FARESIGHT_RATE_LIMIT_PER_MINUTE'>>;

export interface ServiceOptions {
  config: ServiceConfig;
  logger?: Logger;
  /** Replaces the registered functions, for tests. */
  functions?: readonly FaresightFunction<any, FunctionDeps>[];
  pollIntervalMs?: number;
  /** Replaces the provider that follows FARESIGHT_MODELS_DIR/current, for tests. */
  modelProvider?: ModelProvider & { close?(): void };
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
  modelProvider: ModelProvider & { close?(): void };
  /** Stops the runtime, letting in-flight work finish, then closes the database. */
  close(): Promise<void>;
}

/** Builds the service without starting it. Use `:memory:` as the database path in tests. */
export function createService(options: ServiceOptions): Service {
  const { config } = options;
  const logger = options.logger ?? createLogger('silent');
  const database = openDatabase({ path: config.FARESIGHT_DB_PATH, synchronous: config.FARESIGHT_DB_SYNCHRONOUS });
  const storage = createSqliteRuntimeStorage(database.sqlite);
  const modelProvider = options.modelProvider ?? createModelProvider({ modelsDir: config.FARESIGHT_MODELS_DIR, logger });
  const functionDeps: FunctionDeps = {
    series: createSqliteSeriesStore(database.sqlite),
    routes: createSqliteRouteStatsStore(database.sqlite),
    logger,
    model: modelProvider,
    forecasts: createSqliteForecastStore(database.sqlite),
  };
  const runtime = createRuntime({
    storage,
    functions: options.functions ?? defaultFunctions,
    deps: functionDeps,
    logger,
    pollIntervalMs: options.pollIntervalMs,
  });
  const deps: AppDeps = {
    config,
    database,
    storage,
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
    async close() {
      await runtime.stop();
      modelProvider.close?.();
      database.close();
    },
  };
}
