import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import { FareEventInput } from '../../src/events/fare-event.js';
import { hasFareEvents, readFareEvents } from '../../src/db/training-events.js';
import { ingestFareEvents } from '../../src/ingest.js';

const handles: DatabaseHandle[] = [];
afterEach(() => {
  for (const h of handles.splice(0)) h.close();
});

const event = (observedAt: string, price: number) =>
  FareEventInput.parse({ origin: 'BCN', destination: 'BUD', departureDate: '2016-04-20', observedAt, price, currency: 'EUR' });

function logWith(fares: number, emitted: number) {
  const handle = openDatabase({ path: ':memory:' });
  handles.push(handle);
  const storage = createSqliteRuntimeStorage(handle.sqlite);
  // Fare events out of time order, so the read's ordering is what puts them in order.
  const events = Array.from({ length: fares }, (_, i) => event(`2016-04-${String(10 - i).padStart(2, '0')}T09:00:00Z`, 50 + i));
  ingestFareEvents(storage, events);
  storage.transaction(() =>
    storage.log.append(
      Array.from({ length: emitted }, (_, i) => ({ type: 'forecast.updated', series: 'BCN-BUD-2016-04-20', time: i, root: 1, payload: {} })),
    ),
  );
  return handle.sqlite;
}

describe('the fare events a retrain reads', () => {
  it('tells whether the log holds at least so many fare events, other events not counted', () => {
    const sqlite = logWith(3, 5);
    expect(hasFareEvents(sqlite, 0)).toBe(true);
    expect(hasFareEvents(sqlite, 3)).toBe(true);
    expect(hasFareEvents(sqlite, 4)).toBe(false);
    expect(hasFareEvents(logWith(0, 5), 1)).toBe(false);
  });

  it('reads every fare event in event-time order, and nothing else', () => {
    const events = readFareEvents(logWith(3, 2));
    expect(events.map((e) => [e.observedAt, e.price])).toEqual([
      ['2016-04-08T09:00:00.000Z', 52],
      ['2016-04-09T09:00:00.000Z', 51],
      ['2016-04-10T09:00:00.000Z', 50],
    ]);
  });
});
