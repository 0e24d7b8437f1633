import type Database from 'better-sqlite3';
import { FARE_OBSERVED } from '../events/catalog.js';
import type { FareEvent } from '../events/fare-event.js';

/**
 * Every accepted fare event in the log, in event-time order (ties in log order):
 * the data a retrain learns from. Reads with one prepared, iterated statement.
 */
export function readFareEvents(sqlite: Database.Database): FareEvent[] {
  const rows = sqlite
    .prepare('SELECT payload FROM event_log WHERE type = ? ORDER BY time, seq')
    .raw(true)
    .iterate(FARE_OBSERVED) as IterableIterator<[string]>;
  const events: FareEvent[] = [];
  for (const [payload] of rows) events.push(JSON.parse(payload) as FareEvent);
  return events;
}

/** How many fare events the log holds. */
export function countFareEvents(sqlite: Database.Database): number {
  return (sqlite.prepare('SELECT count(*) AS n FROM event_log WHERE type = ?').get(FARE_OBSERVED) as { n: number }).n;
}
