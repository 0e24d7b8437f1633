import {
  canonicalContent,
  idempotencyKeyOf,
  seriesKeyOf,
  type FareEvent,
} from './events/fare-event.js';
import { FARE_OBSERVED } from './events/catalog.js';
import { AppError } from './errors.js';
import type { RuntimeStorage } from './runtime/types.js';

/** The outcome of one accepted request. */
export interface IngestResult {
  accepted: number;
  duplicates: number;
  /** The highest log seq this request touched, to wait for its functions. */
  maxSeq: number;
}

/**
 * Appends validated fare events to the log; call inside a transaction. A known key with
 * the same content is a duplicate; with other content, a conflict, which throws (and so
 * rolls back the caller's transaction or savepoint). Events are appended in observedAt
 * order so each series reaches functions in order.
 */
function appendFareEvents(storage: RuntimeStorage, events: readonly FareEvent[]): IngestResult {
  // Times and an order as typed arrays, not an object per event: a bulk request holds thousands.
  const times = new Float64Array(events.length);
  let sorted = true;
  for (let i = 0; i < events.length; i++) {
    times[i] = Date.parse(events[i].observedAt);
    if (i > 0 && times[i - 1] > times[i]) sorted = false;
  }
  const order = Uint32Array.from(events, (_, i) => i);
  if (!sorted) order.sort((a, b) => times[a] - times[b] || a - b);
  let accepted = 0;
  let duplicates = 0;
  let maxSeq = 0;
  for (const index of order) {
    const event = events[index];
    const time = times[index];
    const key = idempotencyKeyOf(event);
    const outcome = storage.log.appendKeyed({
      type: FARE_OBSERVED,
      key,
      contentOf: canonicalContent,
      series: seriesKeyOf(event),
      time,
      payload: event,
    });
    if (outcome.kind === 'conflict') {
      throw new AppError('conflict', `event ${index} has the key of an accepted event with different content`, {
        issues: [{ index, path: event.id !== undefined ? 'id' : 'observedAt', message: `key ${key} already holds different content` }],
        key,
      });
    }
    if (outcome.kind === 'accepted') accepted++;
    else duplicates++;
    maxSeq = Math.max(maxSeq, outcome.seq);
  }
  return { accepted, duplicates, maxSeq };
}

/** Appends validated fare events to the log atomically, in one transaction: all are stored, or none. */
export function ingestFareEvents(storage: RuntimeStorage, events: readonly FareEvent[]): IngestResult {
  return storage.transaction(() => appendFareEvents(storage, events));
}

/** Ingests the fare events of many requests, each atomically, sharing commits. */
export interface IngestCommitter {
  /** Resolves once the events are committed; rejects with a conflict or a storage error, nothing stored. */
  submit(events: readonly FareEvent[]): Promise<IngestResult>;
}

interface Submission {
  events: readonly FareEvent[];
  resolve(result: IngestResult): void;
  reject(error: unknown): void;
  result?: IngestResult;
  error?: unknown;
}

/**
 * Group commit: the requests submitted in the same turn of the event loop share one
 * transaction, each in a savepoint of its own, so a conflict rejects only its own request.
 * Every request is answered after the shared commit, so an acknowledged event is as
 * durable as with a commit of its own; the commit's fixed cost (the WAL commit frame,
 * locks, the shared index pages) is paid once per group instead of once per request.
 */
export function createIngestCommitter(storage: RuntimeStorage): IngestCommitter {
  let group: Submission[] = [];
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const submissions = group;
    group = [];
    try {
      storage.transaction(() => {
        for (const submission of submissions) {
          try {
            // A lone event writes nothing when it conflicts, so it needs no savepoint to undo.
            submission.result =
              submission.events.length === 1
                ? appendFareEvents(storage, submission.events)
                : storage.transaction(() => appendFareEvents(storage, submission.events));
          } catch (error) {
            // Storage trouble fails the whole group; a conflict only its own request.
            if (!(error instanceof AppError)) throw error;
            submission.error = error;
          }
        }
      });
    } catch (error) {
      for (const submission of submissions) submission.reject(submission.error ?? error);
      return;
    }
    for (const submission of submissions) {
      if (submission.result) submission.resolve(submission.result);
      else submission.reject(submission.error);
    }
  };

  return {
    submit(events) {
      return new Promise<IngestResult>((resolve, reject) => {
        group.push({ events, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
  };
}
