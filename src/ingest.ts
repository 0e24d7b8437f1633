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
 * Appends validated fare events to the log atomically: all are stored, or none.
 * A known key with the same content is a duplicate; with other content, a conflict.
 * Events are appended in observedAt order so each series reaches functions in order.
 */
export function ingestFareEvents(storage: RuntimeStorage, events: readonly FareEvent[]): IngestResult {
  const ordered = events
    .map((event, index) => ({ event, index, time: Date.parse(event.observedAt) }))
    .sort((a, b) => a.time - b.time || a.index - b.index);
  return storage.transaction(() => {
    let accepted = 0;
    let duplicates = 0;
    let maxSeq = 0;
    for (const { event, index, time } of ordered) {
      const key = idempotencyKeyOf(event);
      const outcome = storage.log.appendKeyed({
        type: FARE_OBSERVED,
        key,
        contentHash: canonicalContent(event),
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
  });
}
