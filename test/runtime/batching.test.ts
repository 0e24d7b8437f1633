import { afterEach, describe, expect, it } from 'vitest';
import { defineFunction } from '../../src/runtime/define.js';
import { appendEvents, CallLog, closeRuntimes, makeRuntime, TEST_EVENT, type TestEvent } from '../helpers/runtime.js';

afterEach(closeRuntimes);

const events = (n: number, seriesCount = 7): TestEvent[] =>
  Array.from({ length: n }, (_, i) => ({ series: `S${i % seriesCount}`, time: 1_000 + i, payload: { i } }));

describe('batching', () => {
  it('hands a function batches of at most batch.maxSize events, each event once', async () => {
    const log = new CallLog();
    const fn = defineFunction({ id: 'batched', on: TEST_EVENT, batch: { maxSize: 50 } }, ({ events, attempt }) => {
      log.record(events, attempt, true);
    });
    const { runtime, storage } = makeRuntime([fn]);
    const seqs = appendEvents(storage, events(237));
    runtime.start();
    const result = await runtime.drain(10_000);
    expect(result).toEqual({ pending: 0, timedOut: false });

    const sizes = log.calls.map((c) => c.seqs.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(50);
    // All events were in the log before start, so batches are full but the last.
    expect(sizes).toEqual([50, 50, 50, 50, 37]);
    expect(log.delivered().sort((a, b) => a - b)).toEqual(seqs);
    expect(storage.deliveries.cursor('batched')).toBe(seqs[seqs.length - 1]);
  });

  it('takes events appended while it runs in later batches', async () => {
    const log = new CallLog();
    const fn = defineFunction({ id: 'batched', on: TEST_EVENT, batch: { maxSize: 50 } }, ({ events, attempt }) => {
      log.record(events, attempt, true);
    });
    const { runtime, storage } = makeRuntime([fn]);
    runtime.start();
    const all: number[] = [];
    for (let round = 0; round < 5; round++) {
      all.push(...appendEvents(storage, events(30)));
      runtime.notify();
      await runtime.drain(10_000);
    }
    expect(log.calls.every((c) => c.seqs.length <= 50)).toBe(true);
    expect(log.delivered().sort((a, b) => a - b)).toEqual(all);
  });

  it('delivers one event per invocation by default', async () => {
    const log = new CallLog();
    const fn = defineFunction({ id: 'single', on: TEST_EVENT }, ({ events, attempt }) => log.record(events, attempt, true));
    const { runtime, storage } = makeRuntime([fn]);
    const seqs = appendEvents(storage, events(12));
    runtime.start();
    await runtime.drain(10_000);
    expect(log.calls.map((c) => c.seqs)).toEqual(seqs.map((s) => [s]));
    expect(runtime.stats()[0]).toMatchObject({ id: 'single', invocations: 12, failures: 0, lag: 0, batch: { maxSize: 1, maxWaitMs: 0 } });
  });

  it('only triggers a function on its own event types', async () => {
    const pings = new CallLog();
    const pongs = new CallLog();
    const onPing = defineFunction({ id: 'on-ping', on: TEST_EVENT, batch: { maxSize: 10 } }, ({ events, attempt }) =>
      pings.record(events, attempt, true),
    );
    const onBoth = defineFunction({ id: 'on-both', on: [TEST_EVENT, 'test.pong'], batch: { maxSize: 10 } }, ({ events, attempt }) =>
      pongs.record(events, attempt, true),
    );
    const { runtime, storage } = makeRuntime([onPing, onBoth]);
    const pingSeqs = appendEvents(storage, events(5));
    const pongSeqs = appendEvents(storage, events(3).map((e) => ({ ...e, type: 'test.pong' })));
    runtime.start();
    await runtime.drain(10_000);
    expect(pings.delivered().sort((a, b) => a - b)).toEqual(pingSeqs);
    expect(pongs.delivered().sort((a, b) => a - b)).toEqual([...pingSeqs, ...pongSeqs]);
  });

  it('hands each batch over per series in event-time order, even when the log order differs', async () => {
    const log = new CallLog();
    const fn = defineFunction({ id: 'ordered', on: TEST_EVENT, batch: { maxSize: 10 } }, ({ events, attempt }) =>
      log.record(events, attempt, true),
    );
    const { runtime, storage } = makeRuntime([fn]);
    // Three separate appends (as three requests would be), the later ones observed earlier.
    appendEvents(storage, [{ series: 'A', time: 300 }]);
    appendEvents(storage, [{ series: 'B', time: 150 }, { series: 'A', time: 100 }]);
    appendEvents(storage, [{ series: 'A', time: 200 }]);
    runtime.start();
    await runtime.drain(10_000);
    expect(log.calls).toHaveLength(1);
    const [call] = log.calls;
    const aTimes = call.times.filter((_, i) => call.series[i] === 'A');
    expect(aTimes).toEqual([100, 200, 300]);
  });

  it('rejects two functions with the same id and ids that are not kebab-case', () => {
    const a = defineFunction({ id: 'same', on: TEST_EVENT }, () => {});
    expect(() => makeRuntime([a, a])).toThrow(/registered twice/);
    expect(() => defineFunction({ id: 'Not_Kebab', on: TEST_EVENT }, () => {})).toThrow(/kebab-case/);
    expect(() => defineFunction({ id: 'no-trigger', on: [] }, () => {})).toThrow(/needs a trigger/);
  });

  it('waits up to batch.maxWaitMs for a fuller batch', async () => {
    const log = new CallLog();
    const fn = defineFunction({ id: 'waiting', on: TEST_EVENT, batch: { maxSize: 100, maxWaitMs: 200 } }, ({ events, attempt }) =>
      log.record(events, attempt, true),
    );
    const { runtime, storage } = makeRuntime([fn]);
    runtime.start();
    const first = appendEvents(storage, [{ series: 'A', time: 1 }]);
    runtime.notify();
    // Appended while the worker waits for more: lands in the same invocation.
    const second = appendEvents(storage, [{ series: 'A', time: 2 }]);
    await runtime.drain(10_000);
    expect(log.calls.map((c) => c.seqs)).toEqual([[...first, ...second]]);
  });
});
