import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Config } from '../config.js';
import type { DatabaseHandle } from '../db/client.js';
import type { FunctionDeps } from '../functions/deps.js';
import type { IngestCommitter } from '../ingest.js';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime/runtime.js';
import type { RuntimeStorage } from '../runtime/types.js';
import type { AuthOptions } from './auth.js';

/** Everything the HTTP layer needs, built once at start. */
export interface AppDeps {
  config: Pick<Config, 'FARESIGHT_REQUIRE_KEY_FOR_READS'> & Partial<Pick<Config, 'FARESIGHT_FORECAST_CACHE_MB'>>;
  database: DatabaseHandle;
  storage: RuntimeStorage;
  /** Appends the fare events of a request, sharing commits with concurrent requests. */
  ingest: IngestCommitter;
  runtime: Runtime;
  functionDeps: FunctionDeps;
  logger: Logger;
  auth: AuthOptions;
}

export type AppEnv = { Variables: { requestId: string; apiKeyLabel?: string } };
export type App = OpenAPIHono<AppEnv>;
