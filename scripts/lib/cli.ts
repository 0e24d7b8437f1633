import { ConfigError, loadConfig, type Config } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import type { RuntimeStorage } from '../../src/runtime/types.js';

/** Thrown for a problem the user can fix; the CLI prints its message without a stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Prints `message` to stderr and exits with status 1. */
export function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

/** Runs a CLI's main, turning expected errors into a one-line message and exit status 1. */
export function runMain(main: () => Promise<void>, expected: (error: unknown) => boolean = () => false): void {
  main().catch((error: unknown) => {
    if (error instanceof UsageError || error instanceof ConfigError || expected(error)) fail((error as Error).message);
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}

/** The configured database (FARESIGHT_DB_PATH, default data/faresight.db) with the runtime's storage on it. */
export interface ConfiguredStorage {
  config: Config;
  database: DatabaseHandle;
  storage: RuntimeStorage;
}

/** Opens the database the service is configured with, applying migrations like the service does. */
export function openConfiguredStorage(): ConfiguredStorage {
  const config = loadConfig();
  const database = openDatabase({ path: config.FARESIGHT_DB_PATH, synchronous: config.FARESIGHT_DB_SYNCHRONOUS });
  return { config, database, storage: createSqliteRuntimeStorage(database.sqlite) };
}

/** Formats a count with thousands separators. */
export const count = (n: number): string => n.toLocaleString('en');
