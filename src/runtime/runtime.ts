import type { Logger } from '../logger.js';
import type { FaresightFunction, HandlerContext } from './define.js';
import { NonRetriableError } from './errors.js';
import type { Delivery, LoggedEvent, NewEvent, RuntimeStorage } from './types.js';

/** Live figures of one function, as `GET /v1/functions` shows them. */
export interface FunctionStats {
  id: string;
  triggers: readonly string[];
  batch: { maxSize: number; maxWaitMs: number };
  retries: number;
  invocations: number;
  failures: number;
  retriesAttempted: number;
  deadLetters: number;
  /** Events not yet processed: after the cursor, or waiting for a retry. */
  lag: number;
  durationMs: { p50: number | null; p99: number | null };
  /**
   * `log`: the function reads its triggers from the durable log through its own cursor.
   * `inline`: its triggers are delivered in memory inside the invocation that emits them,
   * and its effects commit in that invocation's transaction (so its lag is always 0).
   */
  delivery: 'log' | 'inline';
}

export interface RuntimeOptions<Deps> {
  storage: RuntimeStorage;
  functions: readonly FaresightFunction<any, Deps>[];
  deps: Deps;
  logger: Logger;
  /** How often to look for events appended by other processes. */
  pollIntervalMs?: number;
  /** Wall clock, for retry backoff only; business logic uses event time. */
  now?: () => number;
  random?: () => number;
  /**
   * Event types that are never written to the log: they are delivered, in memory, to the
   * functions they trigger inside the invocation that emits them, and everything those
   * functions do commits in that invocation's transaction. A function triggered by such
   * a type must be triggered only by such types.
   */
  inlineTypes?: readonly string[];
}

/** The result of waiting for the functions triggered by some events. */
export interface WaitResult {
  /** Events, direct or derived, that functions have not finished yet; -1 when storage could not tell. */
  pending: number;
  timedOut: boolean;
}

export interface Runtime {
  /** Starts delivery and polling. */
  start(): void;
  /** Stops taking new work and waits for in-flight invocations to finish. */
  stop(): Promise<void>;
  /** Wakes the functions: call after appending events. */
  notify(): void;
  /** Resolves once every function triggered by events with root seq ≤ `maxRoot` finished, or on timeout. */
  waitFor(maxRoot: number, timeoutMs: number): Promise<WaitResult>;
  /** Resolves once no function has lag left, or on timeout. */
  drain(timeoutMs: number): Promise<WaitResult>;
  stats(): FunctionStats[];
  /** Puts a dead letter back in line. Returns false when there is no such dead letter. */
  replayDeadLetter(id: number): boolean;
  readonly functions: readonly FaresightFunction[];
}

const DURATION_WINDOW = 2048;
const MAX_BACKOFF_MS = 60_000;
const MAX_ERROR_LENGTH = 2000;

function errorMessage(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, MAX_ERROR_LENGTH);
}

function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
// An inline function that emits what triggers itself would loop; this bounds the chain.
const MAX_INLINE_DEPTH = 8;

interface Invocation {
  effects: (() => void)[];
  emitted: NewEvent[];
  /** Emitted events of inline types, not yet delivered. */
  inline: LoggedEvent[];
}

const emptyInvocation = (): Invocation => ({ effects: [], emitted: [], inline: [] });

/** Invocation counters and durations of one function. */
class Counters {
  invocations = 0;
  failures = 0;
  retriesAttempted = 0;
  durations: number[] = [];

  record(startedAt: number): void {
    if (this.durations.length >= DURATION_WINDOW) this.durations.shift();
    this.durations.push(performance.now() - startedAt);
  }

  durationMs(): FunctionStats['durationMs'] {
    const sorted = [...this.durations].sort((a, b) => a - b);
    return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  }
}

/** A function's figures, as `GET /v1/functions` shows them. */
function statsOf(
  fn: FaresightFunction<any, any>,
  counters: Counters,
  where: Pick<FunctionStats, 'deadLetters' | 'lag' | 'delivery'>,
): FunctionStats {
  return {
    id: fn.id,
    triggers: fn.triggers,
    batch: fn.batch,
    retries: fn.retries,
    invocations: counters.invocations,
    failures: counters.failures,
    retriesAttempted: counters.retriesAttempted,
    deadLetters: where.deadLetters,
    lag: where.lag,
    durationMs: counters.durationMs(),
    delivery: where.delivery,
  };
}

/**
 * The failure of an inline function, raised in the invocation that triggered it: the
 * triggering event is retried, and dead-lettered, with the function that emitted it.
 */
function inlineFailure(functionId: string, error: unknown): Error {
  const message = `${functionId}: ${errorMessage(error)}`;
  return error instanceof NonRetriableError ? new NonRetriableError(message) : new Error(message, { cause: error });
}

/**
 * Creates the runtime that delivers logged events to functions: each through its own
 * durable cursor, in batches, with retries, dead letters and per-series ordering.
 * A handler's effects, emitted events and cursor advance commit in one transaction.
 */
export function createRuntime<Deps>(options: RuntimeOptions<Deps>): Runtime {
  const { storage, deps, logger } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const inlineTypes = new Set(options.inlineTypes ?? []);
  const ids = new Set<string>();
  for (const fn of options.functions) {
    if (ids.has(fn.id)) throw new Error(`function id "${fn.id}" is registered twice`);
    ids.add(fn.id);
    const inlineTriggers = fn.triggers.filter((t) => inlineTypes.has(t)).length;
    if (inlineTriggers > 0 && inlineTriggers < fn.triggers.length) {
      throw new Error(`function "${fn.id}" mixes inline and logged triggers`);
    }
  }
  const isInline = (fn: FaresightFunction<any, Deps>) => fn.triggers.every((t) => inlineTypes.has(t));
  const inlineFunctions = options.functions.filter(isInline).map((fn) => ({ fn, counters: new Counters() }));

  let stopped = true;
  let pollTimer: NodeJS.Timeout | undefined;
  const waiters = new Set<() => void>();
  const notifyWaiters = () => {
    for (const check of [...waiters]) {
      try {
        check();
      } catch (error) {
        // Counting failed (storage locked): the waiter stays for the next notification or its timeout.
        logger.warn({ err: errorMessage(error) }, 'could not check a waiter');
      }
    }
  };

  function pendingFor(fn: FaresightFunction<any, Deps>, maxRoot?: number): number {
    const cursor = storage.deliveries.cursor(fn.id);
    return storage.log.countAfter(cursor, fn.triggers, maxRoot) + storage.deliveries.countPending(fn.id, maxRoot);
  }

  class Worker {
    running: Promise<void> | undefined;
    wakeAgain = false;
    retryTimer: NodeJS.Timeout | undefined;
    readonly counters = new Counters();
    /**
     * Whether the slow path (retries, parked events) may hold due work. Cleared when a look
     * finds none; set again by the poll, a retry timer and whatever adds deliveries, so the
     * query is not run for every batch of new events.
     */
    checkSlowPath = true;

    constructor(readonly fn: FaresightFunction<any, Deps>) {}

    wake(): void {
      if (stopped) return;
      if (this.running) {
        this.wakeAgain = true;
        return;
      }
      this.running = this.loop().finally(() => {
        this.running = undefined;
        try {
          this.scheduleRetry();
        } catch (error) {
          // Storage failed (locked): nothing awaits this promise, so never reject it; the poll retries.
          logger.error({ fn: this.fn.id, err: errorMessage(error) }, 'could not schedule the next retry');
        }
        notifyWaiters();
        if (this.wakeAgain) this.wake();
      });
    }

    private async loop(): Promise<void> {
      this.wakeAgain = false;
      while (!stopped) {
        let progressed: boolean;
        try {
          progressed = await this.step();
        } catch (error) {
          // Storage itself failed (locked, disk full): back off and let the poll retry.
          logger.error({ fn: this.fn.id, err: errorMessage(error) }, 'delivery step failed');
          return;
        }
        notifyWaiters();
        if (!progressed) {
          if (!this.wakeAgain) return;
          this.wakeAgain = false;
        }
      }
    }

    private scheduleRetry(): void {
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      if (stopped) return;
      const due = storage.deliveries.nextDue(this.fn.id);
      if (due === undefined) return;
      this.retryTimer = setTimeout(() => {
        this.checkSlowPath = true;
        this.wake();
      }, Math.max(0, due - now()));
      this.retryTimer.unref();
    }

    private async step(): Promise<boolean> {
      if (this.checkSlowPath) {
        const due = storage.deliveries.duePending(this.fn.id, now(), 64);
        if (due.length > 0) {
          for (const delivery of due) {
            if (stopped) break;
            await this.retry(delivery);
          }
          return true;
        }
        this.checkSlowPath = false;
      }
      const { maxSize, maxWaitMs } = this.fn.batch;
      const cursor = storage.deliveries.cursor(this.fn.id);
      let events = storage.log.readAfter(cursor, this.fn.triggers, maxSize);
      if (events.length === 0) return false;
      if (events.length < maxSize && maxWaitMs > 0) {
        await sleep(maxWaitMs);
        events = storage.log.readAfter(cursor, this.fn.triggers, maxSize);
      }
      await this.fastPath(cursor, events);
      return true;
    }

    private async invoke(events: LoggedEvent[], attempt: number): Promise<Invocation> {
      const invocation = emptyInvocation();
      this.counters.invocations++;
      await this.fn.handler(contextFor(invocation, events, attempt));
      await deliverInline(invocation, attempt);
      return invocation;
    }

    private commit(invocation: Invocation, bookkeeping: () => void): void {
      storage.transaction(() => {
        for (const apply of invocation.effects) apply();
        if (invocation.emitted.length > 0) storage.log.append(invocation.emitted);
        bookkeeping();
      });
      // Functions triggered by what was emitted start now rather than at the next poll.
      if (invocation.emitted.length > 0) wakeTriggeredBy(invocation.emitted);
    }

    /** New events in a batch. A failing batch moves to the slow path, one event at a time. */
    private async fastPath(cursor: number, events: LoggedEvent[]): Promise<void> {
      const last = events[events.length - 1].seq;
      const blocked = storage.deliveries.blockedSeries(this.fn.id, [...new Set(events.map((e) => e.series))]);
      const parked = blocked.size > 0 ? events.filter((e) => blocked.has(e.series)) : [];
      const ready = (blocked.size > 0 ? events.filter((e) => !blocked.has(e.series)) : events)
        .slice()
        .sort((a, b) => a.time - b.time || a.seq - b.seq);
      const startedAt = performance.now();
      try {
        const invocation = ready.length > 0 ? await this.invoke(ready, 1) : emptyInvocation();
        this.commit(invocation, () => {
          if (parked.length > 0) {
            storage.deliveries.addPending(this.fn.id, parked, now());
            this.checkSlowPath = true;
          }
          storage.deliveries.advanceCursor(this.fn.id, cursor, last);
        });
        this.counters.record(startedAt);
      } catch (error) {
        // Storage trouble is nobody's fault: leave everything as it was and let the poll retry.
        if (storage.isUnavailable(error)) throw error;
        this.counters.failures++;
        // A lone event is known to be the culprit: its batch try counts as attempt 1.
        const culprit = ready.length === 1 ? ready[0] : undefined;
        if (!culprit) {
          logger.warn(
            { fn: this.fn.id, events: events.length, err: errorMessage(error) },
            'batch failed; retrying its events one at a time',
          );
        }
        storage.transaction(() => {
          storage.deliveries.addPending(this.fn.id, events, now());
          this.checkSlowPath = true;
          if (culprit) this.settleFailure(storage.deliveries.find(this.fn.id, culprit.seq)!, culprit, 1, error);
          storage.deliveries.advanceCursor(this.fn.id, cursor, last);
        });
      }
    }

    /** Records a failed attempt: back off for another, or dead-letter. Call inside a transaction. */
    private settleFailure(delivery: Delivery, event: LoggedEvent, attempt: number, error: unknown): void {
      const message = errorMessage(error);
      if (error instanceof NonRetriableError || attempt > this.fn.retries) {
        storage.deliveries.kill(delivery, message, now());
        logger.error({ fn: this.fn.id, seq: event.seq, series: event.series, attempts: attempt, err: message }, 'event dead-lettered');
      } else {
        const backoff = Math.min(MAX_BACKOFF_MS, this.fn.backoffMs * 2 ** (attempt - 1)) * (0.5 + random());
        storage.deliveries.reschedule(delivery, now() + backoff, message, now());
        logger.warn({ fn: this.fn.id, seq: event.seq, attempt, retryInMs: Math.round(backoff), err: message }, 'invocation failed; will retry');
      }
    }

    /** One event off the slow path: succeed, back off, or go to the dead letters. */
    private async retry(delivery: Delivery): Promise<void> {
      const event = storage.log.read(delivery.seq);
      if (!event) {
        storage.transaction(() => storage.deliveries.kill(delivery, 'event missing from the log', now()));
        return;
      }
      const attempt = delivery.attempts + 1;
      if (delivery.attempts > 0) this.counters.retriesAttempted++;
      const startedAt = performance.now();
      try {
        const invocation = await this.invoke([event], attempt);
        this.commit(invocation, () => storage.deliveries.complete(delivery));
        this.counters.record(startedAt);
      } catch (error) {
        if (storage.isUnavailable(error)) throw error;
        this.counters.failures++;
        storage.transaction(() => this.settleFailure(delivery, event, attempt, error));
      }
    }

    stats(): FunctionStats {
      return statsOf(this.fn, this.counters, {
        deadLetters: storage.deliveries.countDead(this.fn.id),
        lag: pendingFor(this.fn),
        delivery: 'log',
      });
    }
  }

  function contextFor(invocation: Invocation, events: LoggedEvent[], attempt: number): HandlerContext<unknown, Deps> {
    return {
      events,
      deps,
      attempt,
      emit: (event, cause) => {
        const { type, series, time, payload } = event;
        if (inlineTypes.has(type)) invocation.inline.push({ seq: cause.seq, type, series, time, root: cause.root, payload });
        else invocation.emitted.push({ type, series, time, payload, root: cause.root });
      },
      effect: (apply) => invocation.effects.push(apply),
    };
  }

  /**
   * Runs the inline functions triggered by what an invocation emitted, into the same
   * invocation: their effects and emitted events commit with it, or not at all.
   */
  async function deliverInline(invocation: Invocation, attempt: number): Promise<void> {
    for (let depth = 0; invocation.inline.length > 0; depth++) {
      if (depth >= MAX_INLINE_DEPTH) throw new NonRetriableError(`inline events nest deeper than ${MAX_INLINE_DEPTH} levels`);
      const emitted = invocation.inline.splice(0);
      for (const { fn, counters } of inlineFunctions) {
        const events = emitted.filter((e) => fn.triggers.includes(e.type));
        if (events.length === 0) continue;
        const startedAt = performance.now();
        counters.invocations++;
        try {
          await fn.handler(contextFor(invocation, events, attempt));
        } catch (error) {
          counters.failures++;
          if (storage.isUnavailable(error)) throw error;
          throw inlineFailure(fn.id, error);
        }
        counters.record(startedAt);
      }
    }
  }

  // Inline functions have no cursor and no deliveries: their work is part of the emitter's.
  const inlineStats = ({ fn, counters }: (typeof inlineFunctions)[number]): FunctionStats =>
    statsOf(fn, counters, { deadLetters: 0, lag: 0, delivery: 'inline' });

  const workers = options.functions.filter((fn) => !isInline(fn)).map((fn) => new Worker(fn));
  const wakeAll = () => {
    for (const worker of workers) worker.wake();
  };
  // The poll also finds deliveries other processes revived (the dead-letters CLI).
  const poll = () => {
    for (const worker of workers) worker.checkSlowPath = true;
    wakeAll();
  };
  const wakeTriggeredBy = (events: readonly NewEvent[]) => {
    const types = new Set(events.map((e) => e.type));
    for (const worker of workers) if (worker.fn.triggers.some((t) => types.has(t))) worker.wake();
  };

  function waitUntil(pending: () => number, timeoutMs: number): Promise<WaitResult> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        const left = pending();
        if (left === 0) finish({ pending: 0, timedOut: false });
      };
      const finish = (result: WaitResult) => {
        waiters.delete(check);
        if (timer) clearTimeout(timer);
        resolve(result);
      };
      timer = setTimeout(() => {
        let left = -1;
        try {
          left = pending();
        } catch (error) {
          // Storage is unavailable right now: say the count is unknown rather than throw from a timer.
          logger.warn({ err: errorMessage(error) }, 'could not count pending work');
        }
        finish({ pending: left, timedOut: true });
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  }

  return {
    functions: options.functions,
    start() {
      if (!stopped) return;
      stopped = false;
      pollTimer = setInterval(poll, pollIntervalMs);
      pollTimer.unref();
      poll();
    },
    async stop() {
      stopped = true;
      if (pollTimer) clearInterval(pollTimer);
      for (const worker of workers) if (worker.retryTimer) clearTimeout(worker.retryTimer);
      await Promise.all(workers.map((w) => w.running));
    },
    notify: wakeAll,
    waitFor(maxRoot, timeoutMs) {
      return waitUntil(() => workers.reduce((sum, w) => sum + pendingFor(w.fn, maxRoot), 0), timeoutMs);
    },
    drain(timeoutMs) {
      return waitUntil(() => workers.reduce((sum, w) => sum + pendingFor(w.fn), 0), timeoutMs);
    },
    stats: () => {
      // In registration order, whichever way each function is delivered.
      const byId = new Map<string, FunctionStats>();
      for (const w of workers) byId.set(w.fn.id, w.stats());
      for (const f of inlineFunctions) byId.set(f.fn.id, inlineStats(f));
      return options.functions.map((fn) => byId.get(fn.id)!);
    },
    replayDeadLetter(id) {
      const revived = storage.transaction(() => storage.deliveries.revive(id, now()));
      if (revived) poll();
      return revived;
    },
  };
}
