import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import { FareEventInput, unpackFareEvent, type FareEvent } from '../../src/events/fare-event.js';
import { createIngestCommitter, ingestFareEvents } from '../../src/ingest.js';
import type { RuntimeStorage } from '../../src/runtime/types.js';
import { closeServices, countRows, fareEvent, fareSeries, makeService, post, tempDbPath } from '../helpers/index.js';

afterEach(closeServices);

const valid = (bodies: Record<string, unknown>[]): FareEvent[] => bodies.map((b) => FareEventInput.parse(b));

/** The storage, counting the outermost transactions (commits) it runs. */
function counting(storage: RuntimeStorage) {
  let depth = 0;
  const counter = { commits: 0 };
  const wrapped: RuntimeStorage = {
    ...storage,
    transaction(fn) {
      if (depth === 0) counter.commits++;
      depth++;
      try {
        return storage.transaction(fn);
      } finally {
        depth--;
      }
    },
  };
  return { storage: wrapped, counter };
}

describe('group commit of fare events', () => {
  it('commits requests submitted together in one transaction, and answers each with its own counts', async () => {
    const service = makeService();
    const { storage, counter } = counting(service.storage);
    const committer = createIngestCommitter(storage);
    const first = valid(fareSeries(3, { departureDate: '2016-05-01' }));
    const results = await Promise.all([
      committer.submit(first),
      committer.submit(valid(fareSeries(2, { departureDate: '2016-05-02' }))),
      committer.submit(first.slice(0, 2)),
    ]);
    expect(counter.commits).toBe(1);
    expect(results.map((r) => [r.accepted, r.duplicates])).toEqual([
      [3, 0],
      [2, 0],
      [0, 2],
    ]);
    expect(countRows(service, 'event_log', 'type = ?', FARE_OBSERVED)).toBe(5);
    expect(results[2].maxSeq).toBeLessThanOrEqual(results[0].maxSeq);

    // A later turn of the event loop is a new group.
    await committer.submit(valid(fareSeries(1, { departureDate: '2016-05-03' })));
    expect(counter.commits).toBe(2);
  });

  it('rejects only the request that conflicts; the others of its group are stored', async () => {
    const service = makeService();
    const committer = createIngestCommitter(service.storage);
    await committer.submit(valid([fareEvent({ price: 10 })]));
    const outcomes = await Promise.allSettled([
      committer.submit(valid(fareSeries(2, { departureDate: '2016-06-01' }))),
      // Its first event is new, its second conflicts: neither may be stored.
      committer.submit(valid([fareEvent({ observedAt: '2016-04-02T09:00:00Z' }), fareEvent({ price: 11 })])),
      committer.submit(valid(fareSeries(2, { departureDate: '2016-06-02' }))),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'conflict' });
    expect(countRows(service, 'event_log', 'type = ?', FARE_OBSERVED)).toBe(5);
    expect(countRows(service, 'event_log', "type = ? AND time = ?", FARE_OBSERVED, Date.parse('2016-04-02T09:00:00Z'))).toBe(0);
  });

  it('rejects a lone conflicting event without touching the other requests of its group', async () => {
    const service = makeService();
    const committer = createIngestCommitter(service.storage);
    await committer.submit(valid([fareEvent({ price: 10 })]));
    const outcomes = await Promise.allSettled([
      committer.submit(valid([fareEvent({ observedAt: '2016-04-03T09:00:00Z' })])),
      committer.submit(valid([fareEvent({ price: 12 })])),
      committer.submit(valid([fareEvent({ price: 10 })])),
      committer.submit(valid([fareEvent({ observedAt: '2016-04-04T09:00:00Z' })])),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'conflict' });
    expect((outcomes[2] as PromiseFulfilledResult<{ duplicates: number }>).value.duplicates).toBe(1);
    expect(countRows(service, 'event_log', 'type = ?', FARE_OBSERVED)).toBe(3);
    const stored = service.database.sqlite.prepare('SELECT payload FROM event_log WHERE type = ? ORDER BY seq').pluck().all(FARE_OBSERVED) as string[];
    const basePrice = fareEvent().price;
    expect(stored.map((p) => unpackFareEvent(p).price)).toEqual([10, basePrice, basePrice]);
  });

  it('rejects every request of the group and stores nothing when the storage is locked', async () => {
    const path = tempDbPath();
    const service = makeService({ dbPath: path });
    service.database.sqlite.pragma('busy_timeout = 20');
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      const committer = createIngestCommitter(service.storage);
      const outcomes = await Promise.allSettled([
        committer.submit(valid(fareSeries(2))),
        committer.submit(valid(fareSeries(2, { departureDate: '2016-06-02' }))),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      for (const o of outcomes) expect(service.storage.isUnavailable((o as PromiseRejectedResult).reason)).toBe(true);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(countRows(service, 'event_log', 'type = ?', FARE_OBSERVED)).toBe(0);
  });

  it('serves concurrent POSTs through it: each answered 202 with its counts, every event stored once', async () => {
    const service = makeService();
    const bodies = Array.from({ length: 20 }, (_, i) => fareSeries(3, { departureDate: `2016-07-${String(i + 1).padStart(2, '0')}` }));
    const responses = await Promise.all(bodies.map((b) => post(service.app, b)));
    for (const res of responses) {
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ accepted: 3, duplicates: 0 });
    }
    expect(countRows(service, 'event_log', 'type = ?', FARE_OBSERVED)).toBe(60);
  });
});

describe('ingestFareEvents', () => {
  it('appends a request’s events in observedAt order, events of the same instant in the order they were sent', async () => {
    const service = makeService();
    const sent = valid([
      fareEvent({ observedAt: '2016-04-03T09:00:00Z', price: 3 }),
      fareEvent({ observedAt: '2016-04-01T09:00:00Z', price: 1 }),
      fareEvent({ observedAt: '2016-04-02T09:00:00+02:00', price: 2 }),
      fareEvent({ observedAt: '2016-04-01T09:00:00Z', departureDate: '2016-04-21', price: 11 }),
      fareEvent({ observedAt: '2016-04-01T07:00:00-02:00', departureDate: '2016-04-22', price: 12 }),
    ]);
    const result = ingestFareEvents(service.storage, sent);
    expect(result).toMatchObject({ accepted: 5, duplicates: 0 });
    const logged = service.storage.log.readAfter(0, [FARE_OBSERVED], 10);
    expect(logged.map((e) => (e.payload as FareEvent).price)).toEqual([1, 11, 12, 2, 3]);
    expect(logged.map((e) => e.time)).toEqual(logged.map((e) => Date.parse((e.payload as FareEvent).observedAt)));
    expect(result.maxSeq).toBe(logged[4].seq);
  });
});
