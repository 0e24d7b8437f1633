import type Database from 'better-sqlite3';
import { createStoredKeys } from './key-index.js';
import { decodePayload, derivedKeyOf, encodePayload, storedKeyOf } from './payloads.js';
import { rowCachesOf } from './row-cache.js';
import type {
  AppendOutcome,
  Delivery,
  DeliveryStore,
  EventLog,
  LoggedEvent,
  NewEvent,
  RuntimeStorage,
} from '../runtime/types.js';

interface LogRow {
  seq: number;
  type: string;
  series: string;
  time: number;
  root: number;
  payload: string;
}

interface DeliveryRow {
  id: number;
  function_id: string;
  seq: number;
  series: string;
  root: number;
  status: 'pending' | 'dead';
  attempts: number;
  due_at: number;
  last_error: string | null;
  updated_at: number;
}

const toEvent = (row: LogRow): LoggedEvent => ({
  seq: row.seq,
  type: row.type,
  series: row.series,
  time: row.time,
  root: row.root,
  payload: decodePayload(row.type, row.payload),
});

const toDelivery = (row: DeliveryRow): Delivery => ({
  id: row.id,
  functionId: row.function_id,
  seq: row.seq,
  series: row.series,
  root: row.root,
  status: row.status,
  attempts: row.attempts,
  dueAt: row.due_at,
  lastError: row.last_error,
  updatedAt: row.updated_at,
});

const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|NOMEM)/;

/** True for SQLite errors that mean "try again later": locked, disk full, I/O failure. */
export function isSqliteUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNAVAILABLE_CODES.test(code);
}

/** Thrown when a cursor or delivery moved under us: another consumer got there first. */
export class ConcurrentDeliveryError extends Error {
  override name = 'ConcurrentDeliveryError';
}

/** Caches one prepared statement per distinct SQL text (for `IN (...)` lists of varying length). */
function statementCache(sqlite: Database.Database) {
  const cache = new Map<string, Database.Statement>();
  return (sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = sqlite.prepare(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  };
}

const placeholders = (n: number) => new Array(n).fill('?').join(',');

/** The most appended events kept in memory for functions to read without a query. */
export const DEFAULT_RECENT_EVENTS = 20_000;

/**
 * The events this connection appended lately, in seq order, as the objects it appended:
 * functions read their triggers from here instead of querying and parsing them again.
 * It covers every seq above `floor` only while no other connection has committed since
 * it was started: a commit by another process (an import, a retrain request) changes
 * SQLite's data_version, and the window then starts again above the log's head.
 */
class RecentEvents {
  private events: LoggedEvent[] = [];
  private staged: LoggedEvent[] = [];
  private floor = Number.POSITIVE_INFINITY;
  private version: number | undefined;

  constructor(
    private readonly capacity: number,
    private readonly dataVersion: () => number,
    private readonly head: () => number,
  ) {}

  /** Events appended in the open transaction: they count once it commits. */
  stage(event: LoggedEvent, inTransaction: boolean): void {
    if (inTransaction) this.staged.push(event);
    else this.add([event]);
  }

  mark(): number {
    return this.staged.length;
  }

  rollbackTo(mark: number): void {
    this.staged.length = mark;
  }

  commit(): void {
    if (this.staged.length === 0) return;
    const committed = this.staged;
    this.staged = [];
    this.add(committed);
  }

  private add(committed: LoggedEvent[]): void {
    if (!this.current()) return;
    for (const event of committed) this.events.push(event);
    if (this.events.length > this.capacity) {
      const dropped = this.events.splice(0, this.events.length - this.capacity);
      this.floor = dropped[dropped.length - 1].seq;
    }
  }

  /** False, and the window restarted, when another connection committed since the last look. */
  private current(): boolean {
    const version = this.dataVersion();
    if (version === this.version) return true;
    this.version = version;
    this.events = [];
    this.floor = this.head();
    return false;
  }

  /** The index of the first kept event with a seq above `position`. */
  private indexAfter(position: number): number {
    const events = this.events;
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (events[mid].seq <= position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The events after `position` of these types, or undefined when the window does not cover it. */
  readAfter(position: number, types: readonly string[], limit: number): LoggedEvent[] | undefined {
    if (position < this.floor || !this.current()) return undefined;
    const events = this.events;
    const out: LoggedEvent[] = [];
    const single = types.length === 1 ? types[0] : undefined;
    for (let i = this.indexAfter(position); i < events.length && out.length < limit; i++) {
      const event = events[i];
      if (single !== undefined ? event.type === single : types.includes(event.type)) out.push(event);
    }
    return out;
  }

  read(seq: number): LoggedEvent | undefined {
    if (seq <= this.floor || !this.current()) return undefined;
    const event = this.events[this.indexAfter(seq - 1)];
    return event?.seq === seq ? event : undefined;
  }
}

export interface SqliteRuntimeStorageOptions {
  /** How many appended events to keep in memory for functions; 0 reads every batch from SQLite. */
  recentEvents?: number;
}

/**
 * The runtime's event log, cursors and deliveries on SQLite, all through prepared
 * statements. Events appended through it are also kept in memory (see RecentEvents),
 * so payloads handed to functions are shared objects: handlers must not mutate them.
 */
export function createSqliteRuntimeStorage(
  sqlite: Database.Database,
  options: SqliteRuntimeStorageOptions = {},
): RuntimeStorage {
  const prepared = statementCache(sqlite);
  // Positional parameters: binding by name costs an object and a lookup per value, per event.
  const insertEvent = sqlite.prepare(
    `INSERT INTO event_log (type, key, series, time, root, payload, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  // A client event is its own root: the seq SQLite will assign, max(seq) + 1 (the log is
  // append-only, so no seq is ever reused). Keys are checked in memory first (see keys below).
  const insertKeyed = sqlite.prepare(
    `INSERT INTO event_log (type, key, series, time, root, payload, created_at)
     VALUES (?, ?, ?, ?, coalesce((SELECT max(seq) FROM event_log), 0) + 1, ?, ?)`,
  );
  const readKeyed = sqlite.prepare('SELECT type, key, content_hash, payload FROM event_log WHERE seq = ?');
  const readOne = sqlite.prepare('SELECT seq, type, series, time, root, payload FROM event_log WHERE seq = ?');
  const headStmt = sqlite.prepare('SELECT coalesce(max(seq), 0) AS head FROM event_log');
  const dataVersionStmt = sqlite.prepare('PRAGMA data_version').pluck();
  // Its transactions keep the stores' row caches in step with what commits.
  const rowCaches = rowCachesOf(sqlite);
  const head = () => (headStmt.get() as { head: number }).head;
  const capacity = options.recentEvents ?? DEFAULT_RECENT_EVENTS;
  const recent =
    capacity > 0 ? new RecentEvents(capacity, () => dataVersionStmt.get() as number, head) : undefined;

  const keys = createStoredKeys(sqlite);
  /** The event stored under a key, by the seqs whose hash matches. */
  const findByKey = (type: string, key: string) => {
    let found: { seq: number; contentHash: string | null; payload: unknown } | undefined;
    keys.find(type, key, (seq) => {
      const row = readKeyed.get(seq) as { type: string; key: string | null; content_hash: string | null; payload: string };
      if (row.type !== type) return false;
      // A key the payload derives is not stored: the payload is decoded to tell, once, and kept.
      const payload = row.key === null ? decodePayload(type, row.payload) : undefined;
      if ((row.key ?? derivedKeyOf(type, payload)) !== key) return false;
      found = { seq, contentHash: row.content_hash, payload: payload ?? decodePayload(type, row.payload) };
      return true;
    });
    return found;
  };

  const log: EventLog = {
    appendKeyed(event): AppendOutcome {
      // Its keys are published (and stored) by this storage's transactions only.
      if (!inOwnTransaction) {
        if (sqlite.inTransaction) throw new Error('appendKeyed must run inside storage.transaction()');
        return transaction(() => log.appendKeyed(event));
      }
      keys.ensureCurrent();
      const existing = findByKey(event.type, event.key);
      if (existing) {
        // Rows stored before payload comparison carry their content; later ones derive it.
        const storedContent = existing.contentHash ?? event.contentOf(existing.payload as typeof event.payload);
        return storedContent === event.contentOf(event.payload)
          ? { kind: 'duplicate', seq: existing.seq }
          : { kind: 'conflict', key: event.key };
      }
      const info = insertKeyed.run(
        event.type,
        storedKeyOf(event.type, event.key, event.payload),
        event.series,
        event.time,
        encodePayload(event.type, event.payload),
        Date.now(),
      );
      const seq = Number(info.lastInsertRowid);
      keys.added(event.type, event.key, seq);
      recent?.stage(
        { seq, type: event.type, series: event.series, time: event.time, root: seq, payload: event.payload },
        true,
      );
      return { kind: 'accepted', seq };
    },
    append(events: NewEvent[]) {
      const createdAt = Date.now();
      for (const event of events) {
        if (event.root === undefined) throw new Error('emitted events need a root');
        const info = insertEvent.run(
          event.type,
          event.key ?? null,
          event.series,
          event.time,
          event.root,
          encodePayload(event.type, event.payload),
          createdAt,
        );
        recent?.stage(
          {
            seq: Number(info.lastInsertRowid),
            type: event.type,
            series: event.series,
            time: event.time,
            root: event.root,
            payload: event.payload,
          },
          sqlite.inTransaction,
        );
      }
    },
    readAfter(position, types, limit) {
      const cached = recent?.readAfter(position, types, limit);
      if (cached) return cached;
      const rows = prepared(
        `SELECT seq, type, series, time, root, payload FROM event_log
         WHERE seq > ? AND type IN (${placeholders(types.length)}) ORDER BY seq LIMIT ?`,
      ).all(position, ...types, limit) as LogRow[];
      return rows.map(toEvent);
    },
    read(seq) {
      const cached = recent?.read(seq);
      if (cached) return cached;
      const row = readOne.get(seq) as LogRow | undefined;
      return row && toEvent(row);
    },
    head,
    countAfter(position, types, maxRoot) {
      const sql =
        `SELECT count(*) AS n FROM event_log WHERE seq > ? AND type IN (${placeholders(types.length)})` +
        (maxRoot === undefined ? '' : ' AND root <= ?');
      const args: number[] = maxRoot === undefined ? [] : [maxRoot];
      return (prepared(sql).get(position, ...types, ...args) as { n: number }).n;
    },
  };

  const getCursor = sqlite.prepare('SELECT position FROM function_cursors WHERE function_id = ?');
  const insertCursor = sqlite.prepare('INSERT INTO function_cursors (function_id, position) VALUES (?, ?)');
  const moveCursor = sqlite.prepare(
    'UPDATE function_cursors SET position = ? WHERE function_id = ? AND position = ?',
  );
  const insertPending = sqlite.prepare(
    `INSERT OR IGNORE INTO deliveries (function_id, seq, series, root, status, attempts, due_at, last_error, updated_at)
     VALUES (?, ?, ?, ?, 'pending', 0, ?, NULL, ?)`,
  );
  const duePendingStmt = sqlite.prepare(
    `SELECT d.* FROM deliveries d
     WHERE d.function_id = ? AND d.status = 'pending' AND d.due_at <= ?
       AND d.seq = (SELECT min(seq) FROM deliveries x
                    WHERE x.function_id = d.function_id AND x.series = d.series AND x.status = 'pending')
     ORDER BY d.due_at, d.seq LIMIT ?`,
  );
  // Only a series' earliest pending delivery can run next: the ones parked behind it
  // are due "now" but must wait, and counting them would wake the worker in a loop.
  const nextDueStmt = sqlite.prepare(
    `SELECT min(d.due_at) AS due FROM deliveries d
     WHERE d.function_id = ? AND d.status = 'pending'
       AND d.seq = (SELECT min(seq) FROM deliveries x
                    WHERE x.function_id = d.function_id AND x.series = d.series AND x.status = 'pending')`,
  );
  const deleteDelivery = sqlite.prepare(
    `DELETE FROM deliveries WHERE id = ? AND status = 'pending' AND attempts = ?`,
  );
  const rescheduleStmt = sqlite.prepare(
    `UPDATE deliveries SET attempts = attempts + 1, due_at = ?, last_error = ?, updated_at = ?
     WHERE id = ? AND status = 'pending' AND attempts = ?`,
  );
  const killStmt = sqlite.prepare(
    `UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = ?, updated_at = ?
     WHERE id = ? AND status = 'pending' AND attempts = ?`,
  );
  const reviveStmt = sqlite.prepare(
    `UPDATE deliveries SET status = 'pending', attempts = 0, due_at = ?, updated_at = ? WHERE id = ? AND status = 'dead'`,
  );
  const getDelivery = sqlite.prepare('SELECT * FROM deliveries WHERE id = ?');
  const findDelivery = sqlite.prepare('SELECT * FROM deliveries WHERE function_id = ? AND seq = ?');
  const countDeadStmt = sqlite.prepare(
    `SELECT count(*) AS n FROM deliveries WHERE function_id = ? AND status = 'dead'`,
  );
  const countPendingStmt = sqlite.prepare(
    `SELECT count(*) AS n FROM deliveries WHERE function_id = ? AND status = 'pending' AND root <= ?`,
  );
  const anyPendingStmt = sqlite.prepare(
    `SELECT 1 FROM deliveries WHERE function_id = ? AND status = 'pending' LIMIT 1`,
  );

  const mustChange = (changes: number, what: string) => {
    if (changes !== 1) throw new ConcurrentDeliveryError(`${what} changed meanwhile`);
  };

  const deliveries: DeliveryStore = {
    cursor(functionId) {
      const row = getCursor.get(functionId) as { position: number } | undefined;
      return row?.position ?? 0;
    },
    advanceCursor(functionId, from, to) {
      const row = getCursor.get(functionId) as { position: number } | undefined;
      if (!row) {
        if (from !== 0) throw new ConcurrentDeliveryError(`cursor of ${functionId} is missing`);
        insertCursor.run(functionId, to);
        return;
      }
      mustChange(moveCursor.run(to, functionId, from).changes, `cursor of ${functionId}`);
    },
    addPending(functionId, events, now) {
      for (const e of events) insertPending.run(functionId, e.seq, e.series, e.root, now, now);
    },
    blockedSeries(functionId, series) {
      if (series.length === 0 || !anyPendingStmt.get(functionId)) return new Set();
      const blocked = new Set<string>();
      const CHUNK = 500;
      for (let i = 0; i < series.length; i += CHUNK) {
        const chunk = series.slice(i, i + CHUNK);
        const rows = prepared(
          `SELECT DISTINCT series FROM deliveries WHERE function_id = ? AND status = 'pending'
           AND series IN (${placeholders(chunk.length)})`,
        ).all(functionId, ...chunk) as { series: string }[];
        for (const row of rows) blocked.add(row.series);
      }
      return blocked;
    },
    duePending(functionId, now, limit) {
      return (duePendingStmt.all(functionId, now, limit) as DeliveryRow[]).map(toDelivery);
    },
    nextDue(functionId) {
      const row = nextDueStmt.get(functionId) as { due: number | null };
      return row.due ?? undefined;
    },
    complete(delivery) {
      mustChange(deleteDelivery.run(delivery.id, delivery.attempts).changes, `delivery ${delivery.id}`);
    },
    reschedule(delivery, dueAt, error, now) {
      mustChange(
        rescheduleStmt.run(dueAt, error, now, delivery.id, delivery.attempts).changes,
        `delivery ${delivery.id}`,
      );
    },
    kill(delivery, error, now) {
      mustChange(killStmt.run(error, now, delivery.id, delivery.attempts).changes, `delivery ${delivery.id}`);
    },
    revive(id, now) {
      return reviveStmt.run(now, now, id).changes === 1;
    },
    get(id) {
      const row = getDelivery.get(id) as DeliveryRow | undefined;
      return row && toDelivery(row);
    },
    find(functionId, seq) {
      const row = findDelivery.get(functionId, seq) as DeliveryRow | undefined;
      return row && toDelivery(row);
    },
    listDead({ functionId, limit, afterId }) {
      const rows = prepared(
        `SELECT * FROM deliveries WHERE status = 'dead' AND id > ?` +
          (functionId ? ' AND function_id = ?' : '') +
          ' ORDER BY id LIMIT ?',
      ).all(...[afterId ?? 0, ...(functionId ? [functionId] : []), limit]) as DeliveryRow[];
      return rows.map(toDelivery);
    },
    countPending(functionId, maxRoot) {
      return (countPendingStmt.get(functionId, maxRoot ?? Number.MAX_SAFE_INTEGER) as { n: number }).n;
    },
    countDead(functionId) {
      return (countDeadStmt.get(functionId) as { n: number }).n;
    },
  };

  // True inside an outermost transaction this storage opened (and so will publish).
  let inOwnTransaction = false;
  const transaction = <T>(fn: () => T): T => {
    // Nested calls are savepoints: only the outermost commit publishes the staged events.
    const outermost = !sqlite.inTransaction;
    const mark = recent?.mark() ?? 0;
    const keysMark = keys.mark();
    let result: T;
    if (outermost) inOwnTransaction = true;
    try {
      result = rowCaches.transaction(
        outermost
          ? () => {
              const value = fn();
              keys.beforeCommit();
              return value;
            }
          : fn,
      );
    } catch (error) {
      recent?.rollbackTo(outermost ? 0 : mark);
      keys.rollbackTo(keysMark, outermost);
      throw error;
    } finally {
      if (outermost) inOwnTransaction = false;
    }
    if (outermost) {
      recent?.commit();
      keys.committed();
    }
    return result;
  };

  return {
    log,
    deliveries,
    transaction,
    isUnavailable: isSqliteUnavailable,
    warm: () => keys.load(),
  };
}
