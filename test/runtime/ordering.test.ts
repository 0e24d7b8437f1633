import { afterEach, describe, expect, it } from 'vitest';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import type { FareEvent } from '../../src/events/fare-event.js';
import { defineFunction } from '../../src/runtime/define.js';
import { fareSeries } from '../helpers/events.js';
import { post } from '../helpers/http.js';
import { appendEvents, CallLog, closeRuntimes, deferred, makeRuntime, TEST_EVENT, within } from '../helpers/runtime.js';
import { closeServices, makeService } from '../helpers/service.js';

afterEach(async () => {
  await closeRuntimes();
  await closeServices();
});

describe('no head-of-line blocking', () => {
  it('processes other series while a poison event waits for its retry', async () => {
    const log = new CallLog();
    let expected = new Set<number>();
    let done = deferred();
    const fn = defineFunction<{ poison?: boolean }, unknown>(
      { id: 'hol', on: TEST_EVENT, retries: 5, backoffMs: 60_000 },
      ({ events, attempt }) => {
        const poisoned = events.some((e) => e.payload.poison);
        log.record(events, attempt, !poisoned);
        if (poisoned) throw new Error('poison');
        // Resolved on the next macrotask, once this invocation has committed.
        if ([...expected].every((seq) => log.delivered().includes(seq))) setImmediate(done.resolve);
      },
    );
    const { runtime, storage } = makeRuntime([fn]);
    const [poison, ...others] = appendEvents(storage, [
      { series: 'A', time: 1, payload: { poison: true } },
      { series: 'B', time: 2 },
      { series: 'B', time: 3 },
      { series: 'C', time: 4 },
    ]);
    expected = new Set(others);
    runtime.start();
    await within(done.promise, 10_000, 'series B and C to be processed');

    expect(log.delivered()).toEqual(others);
    const [waiting] = storage.deliveries.duePending('hol', Number.MAX_SAFE_INTEGER, 10);
    expect(waiting).toMatchObject({ seq: poison, status: 'pending', attempts: 1, lastError: 'Error: poison' });
    expect(waiting.dueAt).toBeGreaterThan(Date.now() + 30_000);

    // New events still flow for B, while a new event of A parks behind its poison.
    done = deferred();
    const [a2, b3] = appendEvents(storage, [
      { series: 'A', time: 5 },
      { series: 'B', time: 6 },
    ]);
    expected = new Set([b3]);
    runtime.notify();
    await within(done.promise, 10_000, 'the new B event to be processed');
    expect(log.invocationsOf(a2)).toBe(0);
    expect(storage.deliveries.blockedSeries('hol', ['A', 'B', 'C'])).toEqual(new Set(['A']));
    expect(runtime.stats()[0].lag).toBe(2);
  });
});

describe('per-series ordering', () => {
  it.each([1, 10])('delivers events parked behind a failing event after it, in order (batch size %i)', async (maxSize) => {
    const log = new CallLog();
    let failuresLeft = 3;
    let firstSeq = -1;
    const fn = defineFunction({ id: 'ordered', on: TEST_EVENT, retries: 5, backoffMs: 10, batch: { maxSize } }, ({ events, attempt }) => {
      const fail = events.some((e) => e.seq === firstSeq) && failuresLeft > 0;
      log.record(events, attempt, !fail);
      if (fail) {
        failuresLeft--;
        throw new Error('transient');
      }
    });
    const { runtime, storage } = makeRuntime([fn]);
    const a = appendEvents(storage, [
      { series: 'A', time: 10 },
      { series: 'B', time: 11 },
      { series: 'A', time: 12 },
      { series: 'B', time: 13 },
      { series: 'A', time: 14 },
    ]);
    firstSeq = a[0];
    runtime.start();
    // More events of A arrive while its first one is still failing.
    const later = appendEvents(storage, [{ series: 'A', time: 15 }, { series: 'A', time: 16 }]);
    runtime.notify();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });

    const seriesA = [a[0], a[2], a[4], ...later];
    const deliveredA = log.delivered().filter((seq) => seriesA.includes(seq));
    expect(deliveredA).toEqual(seriesA);
    // Nothing of A after the failing event reached the handler before that event succeeded.
    const firstSuccess = log.calls.findIndex((c) => c.ok && c.seqs.includes(firstSeq));
    const earlyA = log.calls.slice(0, firstSuccess).filter((c) => c.seqs.some((s) => s !== firstSeq && seriesA.includes(s)));
    expect(earlyA.filter((c) => c.ok)).toEqual([]);
    // Each event was processed successfully exactly once.
    expect(log.delivered().sort((x, y) => x - y)).toEqual([...a, ...later].sort((x, y) => x - y));
  });

  it('delivers the events of a request posted out of order in observedAt order per series', async () => {
    const seen = new Map<string, string[]>();
    const fn = defineFunction<FareEvent, unknown>({ id: 'record-order', on: FARE_OBSERVED, batch: { maxSize: 4 } }, ({ events }) => {
      for (const e of events) seen.set(e.series, [...(seen.get(e.series) ?? []), e.payload.observedAt]);
    });
    const service = makeService({ functions: [fn] });
    const events = [
      ...fareSeries(12, { departureDate: '2016-04-20' }),
      ...fareSeries(12, { departureDate: '2016-04-21' }),
      ...fareSeries(12, { origin: 'LTN', destination: 'BUD' }),
    ];
    // A deterministic shuffle: reversed, then interleaved.
    const shuffled = events.reverse().flatMap((e, i, all) => (i % 2 === 0 ? [e, all[all.length - 1 - i]] : [])).slice(0, events.length);
    expect(new Set(shuffled).size).toBe(events.length);
    const res = await post(service.app, shuffled);
    expect(res.status).toBe(202);
    service.runtime.start();
    await service.runtime.drain(10_000);

    expect([...seen.keys()].sort()).toEqual(['BCN-BUD-2016-04-20', 'BCN-BUD-2016-04-21', 'LTN-BUD-2016-04-20']);
    for (const [series, times] of seen) {
      expect(times, series).toHaveLength(12);
      expect(times, series).toEqual([...times].sort());
    }
  });
});
