import type Database from 'better-sqlite3';
import { FARE_OBSERVED } from '../events/catalog.js';
import { unpackFareEvent, type FareEvent } from '../events/fare-event.js';

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
  for (const [payload] of rows) events.push(unpackFareEvent(payload));
  return events;
}

/**
 * True when the log holds at least `count` fare events. Counts no further than that: the log
 * has no index by type, and a count of all of it reads the whole table.
 */
export function hasFareEvents(sqlite: Database.Database, count: number): boolean {
  const n = sqlite
    .prepare('SELECT count(*) FROM (SELECT 1 FROM event_log WHERE type = ? LIMIT ?)')
    .pluck()
    .get(FARE_OBSERVED, count) as number;
  return n >= count;
}
