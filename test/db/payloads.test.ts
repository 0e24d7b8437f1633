import { afterEach, describe, expect, it } from 'vitest';
import { decodePayload, encodePayload } from '../../src/db/payloads.js';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import { FARE_OBSERVED, RETRAIN_REQUESTED } from '../../src/events/catalog.js';
import { FareEventInput, packFareEvent, unpackFareEvent, type FareEvent } from '../../src/events/fare-event.js';
import { ingestFareEvents } from '../../src/ingest.js';
import { closeServices, fareEvent, makeService, tempDbPath } from '../helpers/index.js';
import { sampleEvents } from '../helpers/sample.js';

afterEach(closeServices);

const valid = (body: Record<string, unknown>): FareEvent => FareEventInput.parse(body);

/** The same event, keys in the same order: the payload a function gets does not depend on where it was read from. */
function expectSameEvent(actual: unknown, expected: FareEvent): void {
  expect(actual).toEqual(expected);
  expect(Object.keys(actual as object)).toEqual(Object.keys(expected));
}

describe('the log’s packed fare events', () => {
  it('unpacks every event of the sample to the validated event, in about half its JSON’s bytes', () => {
    const events = sampleEvents().map((body) => valid(body));
    let packedBytes = 0;
    let jsonBytes = 0;
    for (const event of events) {
      const packed = packFareEvent(event);
      expectSameEvent(unpackFareEvent(packed), event);
      packedBytes += packed.length;
      jsonBytes += JSON.stringify(event).length;
    }
    expect(packedBytes / jsonBytes).toBeLessThan(0.6);
  });

  it('round-trips every combination of the optional fields, and texts that need escaping', () => {
    const optional = { id: 'client "7" \\ é', carrier: 'W6', flightNumbers: ['2376', 'A1'] };
    const keys = Object.keys(optional) as (keyof typeof optional)[];
    for (let mask = 0; mask < 1 << keys.length; mask++) {
      const body: Record<string, unknown> = fareEvent({ carrier: undefined, flightNumbers: undefined });
      keys.forEach((key, bit) => {
        if (mask & (1 << bit)) body[key] = optional[key];
      });
      const event = valid(body);
      expectSameEvent(unpackFareEvent(packFareEvent(event)), event);
    }
    expect(packFareEvent(valid(fareEvent({ carrier: undefined, flightNumbers: undefined })))).not.toMatch(/null/);
  });

  it('still reads fare events stored as JSON objects, and stores what is not a fare event’s shape as JSON', () => {
    const event = valid(fareEvent({ id: 'a' }));
    expectSameEvent(unpackFareEvent(JSON.stringify(event)), event);
    for (const odd of [{ series: 'CRL-OTP-2016-03-20' }, { ...event, extra: 1 }, { ...event, price: '69.99' }]) {
      const text = encodePayload(FARE_OBSERVED, odd);
      expect(text).toBe(JSON.stringify(odd));
      expect(decodePayload(FARE_OBSERVED, text)).toEqual(odd);
    }
    expect(encodePayload(RETRAIN_REQUESTED, { reason: 'cron' })).toBe('{"reason":"cron"}');
  });

  it('is what the log stores for accepted fare events, and what reading the log gives back', () => {
    const service = makeService();
    const events = [valid(fareEvent()), valid(fareEvent({ observedAt: '2016-04-02T09:00:00Z', id: 'x', carrier: undefined }))];
    ingestFareEvents(service.storage, events);
    const stored = service.database.sqlite.prepare('SELECT payload FROM event_log WHERE type = ? ORDER BY seq').pluck().all(FARE_OBSERVED);
    expect(stored).toEqual(events.map(packFareEvent));
    // From SQLite itself, not the in-memory window of recent events.
    const fromDisk = createSqliteRuntimeStorage(service.database.sqlite, { recentEvents: 0 }).log;
    expectSameEvent(fromDisk.read(1)?.payload, events[0]);
    expect(fromDisk.readAfter(0, [FARE_OBSERVED], 10).map((e) => e.payload)).toEqual(events);
  });
});

describe('keys the log leaves to fare events’ payloads', () => {
  const keyColumn = (service: ReturnType<typeof makeService>) =>
    service.database.sqlite.prepare('SELECT key FROM event_log WHERE type = ? ORDER BY seq').pluck().all(FARE_OBSERVED);

  it('stores no key a fare event derives, client ids included, and still finds duplicates and conflicts after a restart', () => {
    const path = tempDbPath();
    const events = [valid(fareEvent()), valid(fareEvent({ id: 'client-9', observedAt: '2016-04-02T09:00:00Z' }))];
    const first = makeService({ dbPath: path });
    expect(ingestFareEvents(first.storage, events)).toMatchObject({ accepted: 2 });
    expect(keyColumn(first)).toEqual([null, null]);
    first.database.close();

    for (const withoutBlocks of [false, true]) {
      const again = makeService({ dbPath: path });
      // Without the stored blocks of key hashes the keys are read from the log, derived from the payloads.
      if (withoutBlocks) again.database.sqlite.exec('DELETE FROM event_key_blocks');
      expect(ingestFareEvents(again.storage, events)).toMatchObject({ accepted: 0, duplicates: 2 });
      expect(() => ingestFareEvents(again.storage, [{ ...events[1], price: 1 }])).toThrow(/different content/);
      expect(() => ingestFareEvents(again.storage, [{ ...events[0], price: 1 }])).toThrow(/different content/);
      again.database.close();
    }
  });

  it('stores a key its payload does not derive, and finds it', () => {
    const service = makeService();
    const event = valid(fareEvent());
    const append = () =>
      service.storage.transaction(() =>
        service.storage.log.appendKeyed({ type: FARE_OBSERVED, key: 'custom-key', series: 'BCN-BUD-2016-04-20', time: 0, payload: event, contentOf: JSON.stringify }),
      );
    expect(append()).toMatchObject({ kind: 'accepted', seq: 1 });
    expect(keyColumn(service)).toEqual(['custom-key']);
    expect(append()).toEqual({ kind: 'duplicate', seq: 1 });
    // The derived key of the same payload is another key.
    expect(ingestFareEvents(service.storage, [event])).toMatchObject({ accepted: 1 });
  });
});
