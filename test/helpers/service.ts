import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema, type Config } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import type { FunctionDeps } from '../../src/functions/deps.js';
import type { FaresightFunction } from '../../src/runtime/define.js';
import { createService, type Service } from '../../src/service.js';

/** A scratch directory under the OS temp dir, removed by {@link cleanupTemp}. */
const tempDirs: string[] = [];

export function tempDir(prefix = 'faresight-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** A database file path in a fresh temp dir. */
export function tempDbPath(): string {
  return join(tempDir(), 'faresight.db');
}

/** Databases opened by {@link openTestDatabase}, closed by {@link cleanupTemp}. */
const openHandles: DatabaseHandle[] = [];

/** Opens (and migrates) a database file, to be closed by {@link cleanupTemp} if the test does not. */
export function openTestDatabase(path: string = tempDbPath()): DatabaseHandle {
  const handle = openDatabase({ path });
  openHandles.push(handle);
  return handle;
}

/** Closes the databases the test opened, then removes its temp dirs. */
export function cleanupTemp(): void {
  for (const handle of openHandles.splice(0)) handle.close();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A full, valid configuration for tests: in-memory database, models in a temp dir. */
export function testConfig(overrides: Partial<Record<keyof Config, string>> = {}): Config {
  return ConfigSchema.parse({
    FARESIGHT_DB_PATH: ':memory:',
    FARESIGHT_MODELS_DIR: join(tempDir('faresight-models-'), 'models'),
    FARESIGHT_LOG_LEVEL: 'silent',
    ...overrides,
  });
}

export interface MakeServiceOptions {
  /** Defaults to `:memory:`. */
  dbPath?: string;
  /** Replaces the registered functions. */
  functions?: readonly FaresightFunction<any, FunctionDeps>[];
  /** Starts the runtime before returning. */
  start?: boolean;
  config?: Partial<Record<keyof Config, string>>;
  pollIntervalMs?: number;
}

const openServices = new Set<Service>();

/** Builds a service for a test; {@link closeServices} closes every one still open. */
export function makeService(options: MakeServiceOptions = {}): Service {
  const config = testConfig({ ...(options.dbPath ? { FARESIGHT_DB_PATH: options.dbPath } : {}), ...options.config });
  const service = createService({ config, functions: options.functions, pollIntervalMs: options.pollIntervalMs });
  openServices.add(service);
  const close = service.close.bind(service);
  service.close = async () => {
    openServices.delete(service);
    await close();
  };
  if (options.start) service.runtime.start();
  return service;
}

/** Closes every service a test left open, then removes temp dirs. Call from afterEach. */
export async function closeServices(): Promise<void> {
  for (const service of [...openServices]) await service.close();
  cleanupTemp();
}

/** Number of rows in a table of the service's database. */
export function countRows(service: Service, table: string, where = '1 = 1', ...params: unknown[]): number {
  return (service.database.sqlite.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).get(...params) as { n: number }).n;
}
