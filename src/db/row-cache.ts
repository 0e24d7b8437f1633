import type Database from 'better-sqlite3';
import { touch } from '../lib/recency.js';

/**
 * Committed rows kept in memory, per connection, so stores that read and write the same rows
 * for every event (series histories, route statistics) skip the query. A cache only ever holds
 * what a committed transaction of this connection read or wrote, and is trusted only while
 * nothing else can have changed those rows:
 *
 * - Another connection or process: PRAGMA data_version moves. Inside a write transaction it is
 *   read once, at the start (the write lock then keeps others out until the commit); outside one,
 *   once per turn of the event loop.
 * - This connection, outside the transactions {@link RowCaches.transaction} wraps (a direct
 *   write, a transaction that rolled back): total_changes() has moved since the last commit.
 *
 * Either drops every cache. Stores put what they read and write in a transaction with
 * {@link RowCache.put}; it is kept when the transaction commits and forgotten when it rolls back
 * (a savepoint that rolls back drops every cache).
 * Within a transaction, everything a store writes to its table must go through its cache.
 */
export interface RowCaches {
  /** A new cache of at most `maxEntries` rows (least recently used first out). */
  create<V>(maxEntries: number): RowCache<V>;
  /** Runs `fn` as the outermost transaction (or inside the open one), keeping the caches in step. */
  transaction<T>(fn: () => T): T;
  /** data_version as of this turn of the event loop: reads of one turn share one look at it. */
  dataVersionOfTurn(): number;
}

export interface RowCache<V> {
  /** The committed (or, inside a transaction, the put) value of a key, if known and trusted. */
  get(key: string): V | undefined;
  /** Records the value a key has in the open transaction: read from the table or written to it. */
  put(key: string, value: V): void;
  /** The cached value of a key, or else what `read` returns for it, put as read (see {@link put}). */
  getOrRead(key: string, read: () => V | undefined): V | undefined;
  readonly size: number;
}

const cachesByConnection = new WeakMap<Database.Database, RowCaches>();

/** The row caches of a connection, created with its first use. */
export function rowCachesOf(sqlite: Database.Database): RowCaches {
  let caches = cachesByConnection.get(sqlite);
  if (!caches) {
    caches = createRowCaches(sqlite);
    cachesByConnection.set(sqlite, caches);
  }
  return caches;
}

function createRowCaches(sqlite: Database.Database): RowCaches {
  const dataVersion = sqlite.prepare('PRAGMA data_version').pluck();
  const totalChanges = sqlite.prepare('SELECT total_changes()').pluck();
  const caches: CacheImpl<unknown>[] = [];
  // What the caches were last known to be current for.
  let trustedVersion = Number.NaN;
  let trustedChanges = Number.NaN;
  // Inside an outermost transaction: whether the caches were current when it began.
  let inTransaction = false;
  let trustedInTransaction = false;

  let versionOfTurn: number | undefined;
  const endTurn = () => {
    versionOfTurn = undefined;
  };
  const dataVersionOfTurn = (): number => {
    if (versionOfTurn === undefined) {
      versionOfTurn = dataVersion.get() as number;
      setImmediate(endTurn);
    }
    return versionOfTurn;
  };

  // better-sqlite3 builds a transaction function with four wrapped variants on every
  // db.transaction(fn) call (about 7 µs of a savepoint's 10, measured in a group commit), so
  // one is built here and runs whatever function is current. It opens a savepoint by itself
  // when a transaction is open.
  let body: () => unknown = () => undefined;
  const transactionOfBody = sqlite.transaction(() => body());
  const runWith = <T>(wrapper: () => unknown, fn: () => T): T => {
    const outer = body;
    body = fn;
    try {
      return wrapper() as T;
    } finally {
      body = outer;
    }
  };
  const runInSavepoint = <T>(fn: () => T): T => runWith(transactionOfBody, fn);
  const runImmediate = <T>(fn: () => T): T => runWith(transactionOfBody.immediate, fn);

  const dropAll = () => {
    for (const cache of caches) cache.clear();
  };

  class CacheImpl<V> implements RowCache<V> {
    private readonly committed = new Map<string, V>();
    private readonly pending = new Map<string, V>();
    constructor(private readonly maxEntries: number) {}

    get(key: string): V | undefined {
      if (inTransaction) {
        const put = this.pending.get(key);
        if (put !== undefined || !trustedInTransaction) return put;
      } else if (dataVersionOfTurn() !== trustedVersion || (totalChanges.get() as number) !== trustedChanges) {
        return undefined;
      }
      const value = this.committed.get(key);
      if (value !== undefined) touch(this.committed, key, value);
      return value;
    }

    put(key: string, value: V): void {
      if (inTransaction) this.pending.set(key, value);
    }

    getOrRead(key: string, read: () => V | undefined): V | undefined {
      const cached = this.get(key);
      if (cached !== undefined) return cached;
      const value = read();
      if (value !== undefined) this.put(key, value);
      return value;
    }

    get size() {
      return this.committed.size;
    }

    publish(): void {
      for (const [key, value] of this.pending) touch(this.committed, key, value);
      this.pending.clear();
      for (const key of this.committed.keys()) {
        if (this.committed.size <= this.maxEntries) break;
        this.committed.delete(key);
      }
    }

    discard(): void {
      this.pending.clear();
    }

    clear(): void {
      this.committed.clear();
      this.pending.clear();
    }
  }

  return {
    create<V>(maxEntries: number): RowCache<V> {
      const cache = new CacheImpl<V>(maxEntries);
      caches.push(cache as CacheImpl<unknown>);
      return cache;
    },
    transaction<T>(fn: () => T): T {
      if (sqlite.inTransaction) {
        try {
          return runInSavepoint(fn);
        } catch (error) {
          // A savepoint rolled back inside a transaction that goes on: what was put may be
          // undone, so forget it all; the rest of the transaction starts the caches afresh.
          dropAll();
          trustedInTransaction = false;
          throw error;
        }
      }
      let result: T;
      inTransaction = true;
      try {
        result = runImmediate(() => {
          // The write lock is held from here to the commit: no other connection commits in between.
          const version = dataVersion.get() as number;
          // Fresher than this turn's look, if there was one: later reads of the turn use it too.
          if (versionOfTurn !== undefined) versionOfTurn = version;
          trustedInTransaction = version === trustedVersion && (totalChanges.get() as number) === trustedChanges;
          if (!trustedInTransaction) {
            dropAll();
            trustedVersion = version;
          }
          return fn();
        });
      } catch (error) {
        inTransaction = false;
        // Rolled back (or never begun): what was put is forgotten, and total_changes() has
        // moved past trustedChanges if anything was written, so the next look drops the rest.
        for (const cache of caches) cache.discard();
        throw error;
      }
      inTransaction = false;
      for (const cache of caches) cache.publish();
      trustedChanges = totalChanges.get() as number;
      return result;
    },
    dataVersionOfTurn,
  };
}
