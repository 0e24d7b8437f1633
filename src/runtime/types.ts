/** An event as stored in the log. `time` is event time in epoch ms. */
export interface LoggedEvent<P = unknown> {
  seq: number;
  type: string;
  series: string;
  time: number;
  /** The seq of the client event this one descends from. */
  root: number;
  payload: P;
}

/** An event to append to the log. Keyed events are idempotent: see {@link EventLog.appendKeyed}. */
export interface NewEvent<P = unknown> {
  type: string;
  series: string;
  time: number;
  payload: P;
  key?: string;
  root?: number;
}

/**
 * A keyed event. `contentOf` gives the canonical content of a payload of its type: it is
 * computed only when the key is already stored, for both payloads, to tell a duplicate (same
 * content) from a conflict, so that no content is written with every event.
 */
export interface KeyedEvent<P = unknown> extends NewEvent<P> {
  key: string;
  contentOf(payload: P): string;
}

/** The outcome of appending one keyed event. */
export type AppendOutcome =
  | { kind: 'accepted'; seq: number }
  | { kind: 'duplicate'; seq: number }
  | { kind: 'conflict'; key: string };

/** The durable, append-only event log. */
export interface EventLog {
  /** Appends keyed events unless their key exists; never writes a conflicting one. Call inside a transaction. */
  appendKeyed<P>(event: KeyedEvent<P>): AppendOutcome;
  /** Appends events without idempotency keys (emitted by functions). Call inside a transaction. */
  append(events: NewEvent[]): void;
  /** Events of the given types after `position`, in log order. */
  readAfter(position: number, types: readonly string[], limit: number): LoggedEvent[];
  read(seq: number): LoggedEvent | undefined;
  /** The highest seq in the log, or 0. */
  head(): number;
  /** Events of the given types after `position` descending from a root at or below `maxRoot`. */
  countAfter(position: number, types: readonly string[], maxRoot?: number): number;
}

/** A failed event waiting for a retry, or dead-lettered. */
export interface Delivery {
  id: number;
  functionId: string;
  seq: number;
  series: string;
  root: number;
  status: 'pending' | 'dead';
  attempts: number;
  dueAt: number;
  lastError: string | null;
  updatedAt: number;
}

/** Cursors and the deliveries that left the fast path, per function. */
export interface DeliveryStore {
  cursor(functionId: string): number;
  /** Moves the cursor from `from` to `to`; throws when another consumer moved it first. */
  advanceCursor(functionId: string, from: number, to: number): void;
  /** Adds pending deliveries, due now, for events that must take the slow path. */
  addPending(functionId: string, events: readonly LoggedEvent[], now: number): void;
  /** Series that have undelivered (pending) events for this function. */
  blockedSeries(functionId: string, series: readonly string[]): Set<string>;
  /** For each series, its earliest pending delivery when that one is due. */
  duePending(functionId: string, now: number, limit: number): Delivery[];
  /** The earliest time the first pending delivery of one of this function's series falls due, if any. */
  nextDue(functionId: string): number | undefined;
  /** Removes a delivery after it succeeded; throws if it changed meanwhile. */
  complete(delivery: Delivery): void;
  reschedule(delivery: Delivery, dueAt: number, error: string, now: number): void;
  kill(delivery: Delivery, error: string, now: number): void;
  /** Puts a dead letter back in line, due now. Returns false when there is no such dead letter. */
  revive(id: number, now: number): boolean;
  get(id: number): Delivery | undefined;
  /** The delivery of one event for one function, if it left the fast path. */
  find(functionId: string, seq: number): Delivery | undefined;
  listDead(options: { functionId?: string; limit: number; afterId?: number }): Delivery[];
  countPending(functionId: string, maxRoot?: number): number;
  countDead(functionId: string): number;
}

/** The storage a runtime runs on. SQLite implements it; other engines can too. */
export interface RuntimeStorage {
  log: EventLog;
  deliveries: DeliveryStore;
  /** Runs `fn` atomically. It must be synchronous: effects are applied, never awaited. */
  transaction<T>(fn: () => T): T;
  /**
   * True when an error means the storage itself is unavailable for now (locked, full, I/O).
   * The runtime then backs off without charging an attempt to the event.
   */
  isUnavailable(error: unknown): boolean;
  /**
   * Loads now what the first write would otherwise load (the log's idempotency keys), so that
   * a process pays it at start and not in the first request. Optional; safe to skip.
   */
  warm?(): void;
}
