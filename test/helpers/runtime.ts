import type Database from 'better-sqlite3';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import { createLogger } from '../../src/logger.js';
import type { FaresightFunction } from '../../src/runtime/define.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime/runtime.js';
import type { RuntimeStorage } from '../../src/runtime/types.js';

export const TEST_EVENT = 'test.ping';

/** A runtime over SQLite storage, with the database it runs on. */
export interface TestRuntime {
  runtime: Runtime;
  storage: RuntimeStorage;
  database: DatabaseHandle;
  /** Stops the runtime and closes the database. */
  close(): Promise<void>;
}

const open = new Set<TestRuntime>();

/** Builds (without starting) a runtime over an in-memory database, or over `path`. */
export function makeRuntime<Deps = Record<string, never>>(
  functions: readonly FaresightFunction<any, Deps>[],
  options: { path?: string; deps?: Deps; storage?: (s: RuntimeStorage) => RuntimeStorage } & Partial<
    Pick<RuntimeOptions<Deps>, 'pollIntervalMs' | 'now' | 'random' | 'inlineTypes'>
  > = {},
): TestRuntime {
  const database = openDatabase({ path: options.path ?? ':memory:' });
  const base = createSqliteRuntimeStorage(database.sqlite);
  const storage = options.storage ? options.storage(base) : base;
  const runtime = createRuntime<Deps>({
    storage,
    functions,
    deps: options.deps ?? ({} as Deps),
    logger: createLogger('silent'),
    pollIntervalMs: options.pollIntervalMs,
    now: options.now,
    random: options.random ?? (() => 0.5),
    inlineTypes: options.inlineTypes,
  });
  const handle: TestRuntime = {
    runtime,
    storage,
    database,
    async close() {
      open.delete(handle);
      await runtime.stop();
      database.close();
    },
  };
  open.add(handle);
  return handle;
}

/** Closes every test runtime still open. Call from afterEach. */
export async function closeRuntimes(): Promise<void> {
  for (const handle of [...open]) await handle.close();
}

export interface TestEvent {
  series: string;
  time: number;
  payload?: Record<string, unknown>;
  type?: string;
}

let keyCounter = 0;

/** Appends keyed client events in one transaction; returns their seqs in order. */
export function appendEvents(storage: RuntimeStorage, events: readonly TestEvent[]): number[] {
  return storage.transaction(() =>
    events.map((event) => {
      const key = `test-${process.pid}-${++keyCounter}`;
      const outcome = storage.log.appendKeyed({
        type: event.type ?? TEST_EVENT,
        key,
        contentOf: JSON.stringify,
        series: event.series,
        time: event.time,
        payload: event.payload ?? {},
      });
      if (outcome.kind !== 'accepted') throw new Error(`append failed: ${outcome.kind}`);
      return outcome.seq;
    }),
  );
}

/** A table that effects write to, to count durable effects. Duplicates are kept on purpose. */
export function createEffectTable(sqlite: Database.Database) {
  sqlite.exec('CREATE TABLE IF NOT EXISTS test_effects (id INTEGER PRIMARY KEY AUTOINCREMENT, fn TEXT NOT NULL, seq INTEGER NOT NULL)');
  const insert = sqlite.prepare('INSERT INTO test_effects (fn, seq) VALUES (?, ?)');
  const count = sqlite.prepare('SELECT count(*) AS n FROM test_effects WHERE fn = ?');
  const seqs = sqlite.prepare('SELECT seq FROM test_effects WHERE fn = ? ORDER BY id');
  return {
    insert: (fn: string, seq: number) => void insert.run(fn, seq),
    count: (fn: string) => (count.get(fn) as { n: number }).n,
    seqs: (fn: string) => (seqs.all(fn) as { seq: number }[]).map((r) => r.seq),
  };
}

/** Number of log events of a type. */
export function countLogEvents(sqlite: Database.Database, type: string): number {
  return (sqlite.prepare('SELECT count(*) AS n FROM event_log WHERE type = ?').get(type) as { n: number }).n;
}

/** One handler invocation as a test saw it. */
export interface Call {
  seqs: number[];
  series: string[];
  times: number[];
  attempt: number;
  ok: boolean;
  at: number;
}

/** Records invocations and counts them per seq. */
export class CallLog {
  readonly calls: Call[] = [];

  record(events: readonly { seq: number; series: string; time: number }[], attempt: number, ok: boolean): void {
    this.calls.push({
      seqs: events.map((e) => e.seq),
      series: events.map((e) => e.series),
      times: events.map((e) => e.time),
      attempt,
      ok,
      at: Date.now(),
    });
  }

  /** Seqs of successful invocations, in delivery order. */
  delivered(): number[] {
    return this.calls.filter((c) => c.ok).flatMap((c) => c.seqs);
  }

  /** How many invocations (successful or not) each seq was part of. */
  invocationsOf(seq: number): number {
    return this.calls.filter((c) => c.seqs.includes(seq)).length;
  }

  /** Invocations that contained `seq`, in order. */
  callsOf(seq: number): Call[] {
    return this.calls.filter((c) => c.seqs.includes(seq));
  }
}

/** A promise with its resolve exposed. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves `promise`, or rejects after `ms` with a message naming what was awaited. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves in the next turn of the event loop, after its check phase (setImmediate). */
export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
