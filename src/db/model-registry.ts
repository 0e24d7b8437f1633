import type Database from 'better-sqlite3';
import type { RetrainOutcome, RetrainStatus, RetrainWindow } from '../model/retrain.js';

/**
 * The record of every retrain (the `models` table) and the small durable state of
 * functions (the `function_state` table), through prepared statements.
 */

/** How a retrain ended. `promoted` models were made the serving model at the time. */
export const RETRAIN_STATUSES = ['promoted', 'rejected', 'failed'] as const satisfies readonly RetrainStatus[];

/** One retrain as recorded: exactly what the retrain job reported. */
export type ModelRecord = RetrainOutcome;

export interface ModelRegistry {
  /** Inserts or replaces a record; call inside a transaction when it must commit with other state. */
  record(entry: ModelRecord): void;
  get(version: string): ModelRecord | undefined;
  /** Newest first. */
  list(limit: number): ModelRecord[];
  /** Marks a version promoted by hand (a rollback), keeping its history in `decision`. */
  markPromoted(version: string, note: string): void;
}

interface ModelRow {
  version: string;
  created_at: number;
  status: RetrainStatus;
  reason: string;
  decision: string;
  window: string;
  metrics: string;
  error: string | null;
}

const toRecord = (row: ModelRow): ModelRecord => ({
  version: row.version,
  createdAt: row.created_at,
  status: row.status,
  reason: row.reason,
  decision: row.decision,
  window: JSON.parse(row.window) as RetrainWindow,
  metrics: JSON.parse(row.metrics) as Record<string, unknown>,
  error: row.error,
});

/** The models table on SQLite. */
export function createModelRegistry(sqlite: Database.Database): ModelRegistry {
  const upsert = sqlite.prepare(
    `INSERT INTO models (version, created_at, status, reason, decision, window, metrics, error)
     VALUES (@version, @createdAt, @status, @reason, @decision, @window, @metrics, @error)
     ON CONFLICT(version) DO UPDATE SET created_at = excluded.created_at, status = excluded.status,
       reason = excluded.reason, decision = excluded.decision, window = excluded.window,
       metrics = excluded.metrics, error = excluded.error`,
  );
  const getOne = sqlite.prepare('SELECT * FROM models WHERE version = ?');
  const listStmt = sqlite.prepare('SELECT * FROM models ORDER BY created_at DESC, version DESC LIMIT ?');
  const promote = sqlite.prepare(
    `UPDATE models SET status = 'promoted', decision = decision || ' · ' || ? WHERE version = ?`,
  );
  return {
    record(entry) {
      upsert.run({
        ...entry,
        window: JSON.stringify(entry.window),
        metrics: JSON.stringify(entry.metrics),
      });
    },
    get(version) {
      const row = getOne.get(version) as ModelRow | undefined;
      return row && toRecord(row);
    },
    list(limit) {
      return (listStmt.all(limit) as ModelRow[]).map(toRecord);
    },
    markPromoted(version, note) {
      promote.run(note, version);
    },
  };
}

/** Small JSON values of functions, such as the retrain trigger's counters. */
export interface FunctionStateStore {
  get<T>(key: string): T | undefined;
  /** Writes a value; call from a handler's effect, inside the runtime's transaction. */
  set(key: string, value: unknown): void;
}

/** The function_state table on SQLite. */
export function createFunctionStateStore(sqlite: Database.Database): FunctionStateStore {
  const getOne = sqlite.prepare('SELECT value FROM function_state WHERE key = ?');
  const upsert = sqlite.prepare(
    `INSERT INTO function_state (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  );
  return {
    get<T>(key: string) {
      const row = getOne.get(key) as { value: string } | undefined;
      return row ? (JSON.parse(row.value) as T) : undefined;
    },
    set(key, value) {
      upsert.run(key, JSON.stringify(value), Date.now());
    },
  };
}
