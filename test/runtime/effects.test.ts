import { afterEach, describe, expect, it } from 'vitest';
import { defineFunction } from '../../src/runtime/define.js';
import {
  appendEvents,
  CallLog,
  closeRuntimes,
  countLogEvents,
  createEffectTable,
  deferred,
  makeRuntime,
  TEST_EVENT,
  type TestEvent,
} from '../helpers/runtime.js';

afterEach(closeRuntimes);

const DERIVED = 'test.derived';

const events = (n: number): TestEvent[] => Array.from({ length: n }, (_, i) => ({ series: `S${i % 4}`, time: i, payload: { i } }));

describe('exactly-once effects', () => {
  it('commits each effect and emitted event once, and triggers downstream functions once per emitted event', async () => {
    let effects!: ReturnType<typeof createEffectTable>;
    const downstream = new CallLog();
    const writer = defineFunction({ id: 'writer', on: TEST_EVENT, batch: { maxSize: 5 } }, ({ events, emit, effect }) => {
      for (const event of events) emit({ type: DERIVED, series: event.series, time: event.time, payload: { from: event.seq } }, event);
      effect(() => {
        for (const event of events) effects.insert('writer', event.seq);
      });
    });
    const reader = defineFunction<{ from: number }, unknown>(
      { id: 'reader', on: DERIVED, batch: { maxSize: 3 } },
      ({ events, effect, attempt }) => {
        downstream.record(events, attempt, true);
        effect(() => {
          for (const event of events) effects.insert('reader', event.payload.from);
        });
      },
    );
    const { runtime, storage, database } = makeRuntime([writer, reader]);
    effects = createEffectTable(database.sqlite);
    const seqs = appendEvents(storage, events(23));
    runtime.start();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });

    expect(effects.seqs('writer').sort((a, b) => a - b)).toEqual(seqs);
    expect(countLogEvents(database.sqlite, DERIVED)).toBe(23);
    expect(effects.seqs('reader').sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(downstream.delivered()).size).toBe(23);
    expect(downstream.delivered()).toHaveLength(23);
    // Emitted events keep the root of the client event they descend from.
    const derived = storage.log.readAfter(0, [DERIVED], 100);
    for (const event of derived) expect(event.root).toBe((event.payload as { from: number }).from);
  });

  it('wakes downstream functions when events are emitted, without waiting for the poll', async () => {
    const downstream = new CallLog();
    const writer = defineFunction({ id: 'writer', on: TEST_EVENT }, ({ events, emit }) => {
      emit({ type: DERIVED, series: events[0].series, time: events[0].time, payload: {} }, events[0]);
    });
    const reader = defineFunction({ id: 'reader', on: DERIVED }, ({ events, attempt }) => downstream.record(events, attempt, true));
    // The poll would only find the emitted events after ten minutes.
    const { runtime, storage } = makeRuntime([writer, reader], { pollIntervalMs: 600_000 });
    const [root] = appendEvents(storage, [{ series: 'A', time: 1 }]);
    runtime.start();
    expect(await runtime.waitFor(root, 5_000)).toEqual({ pending: 0, timedOut: false });
    expect(downstream.delivered()).toHaveLength(1);
  });

  it('applies nothing of a failed invocation: neither its effects nor its emitted events', async () => {
    let effects!: ReturnType<typeof createEffectTable>;
    let calls = 0;
    const fn = defineFunction({ id: 'half-done', on: TEST_EVENT, retries: 3, backoffMs: 1 }, ({ events, emit, effect }) => {
      calls++;
      const [event] = events;
      emit({ type: DERIVED, series: event.series, time: event.time, payload: {} }, event);
      effect(() => effects.insert('half-done', event.seq));
      // The first two tries fail after registering their effect and emitting.
      if (calls <= 2) throw new Error('failed after emitting');
    });
    const { runtime, storage, database } = makeRuntime([fn]);
    effects = createEffectTable(database.sqlite);
    const [seq] = appendEvents(storage, [{ series: 'A', time: 1 }]);
    runtime.start();
    await runtime.drain(10_000);
    expect(calls).toBe(3);
    expect(effects.seqs('half-done')).toEqual([seq]);
    expect(countLogEvents(database.sqlite, DERIVED)).toBe(1);
  });

  it('rolls back the whole invocation when one of its effects throws', async () => {
    let effects!: ReturnType<typeof createEffectTable>;
    let calls = 0;
    const fn = defineFunction({ id: 'bad-effect', on: TEST_EVENT, retries: 3, backoffMs: 1 }, ({ events, emit, effect }) => {
      calls++;
      const [event] = events;
      const failing = calls === 1;
      effect(() => effects.insert('bad-effect', event.seq));
      emit({ type: DERIVED, series: event.series, time: event.time, payload: {} }, event);
      effect(() => {
        if (failing) throw new Error('constraint failed');
      });
    });
    const { runtime, storage, database } = makeRuntime([fn]);
    effects = createEffectTable(database.sqlite);
    const [seq] = appendEvents(storage, [{ series: 'A', time: 1 }]);
    runtime.start();
    await runtime.drain(10_000);
    expect(calls).toBe(2);
    expect(effects.seqs('bad-effect')).toEqual([seq]);
    expect(countLogEvents(database.sqlite, DERIVED)).toBe(1);
    expect(storage.deliveries.listDead({ limit: 10 })).toEqual([]);
  });

  it('waitFor(root) waits for the functions triggered by events derived from that root', async () => {
    let effects!: ReturnType<typeof createEffectTable>;
    const gate = deferred();
    const writer = defineFunction({ id: 'writer', on: TEST_EVENT }, ({ events, emit }) => {
      emit({ type: DERIVED, series: events[0].series, time: events[0].time, payload: {} }, events[0]);
    });
    const slowReader = defineFunction({ id: 'slow-reader', on: DERIVED }, async ({ events, effect }) => {
      await gate.promise;
      effect(() => effects.insert('slow-reader', events[0].root));
    });
    const { runtime, storage, database } = makeRuntime([writer, slowReader]);
    effects = createEffectTable(database.sqlite);
    const [root] = appendEvents(storage, [{ series: 'A', time: 1 }]);
    runtime.start();
    const early = await runtime.waitFor(root, 150);
    expect(early.timedOut).toBe(true);
    expect(early.pending).toBe(1);
    expect(effects.count('slow-reader')).toBe(0);

    gate.resolve();
    expect(await runtime.waitFor(root, 10_000)).toEqual({ pending: 0, timedOut: false });
    expect(effects.seqs('slow-reader')).toEqual([root]);
  });

  it('waitFor(root) does not wait for events of later roots', async () => {
    const gate = deferred();
    const fn = defineFunction<{ slow?: boolean }, unknown>({ id: 'maybe-slow', on: TEST_EVENT }, async ({ events }) => {
      if (events[0].payload.slow) await gate.promise;
    });
    const { runtime, storage } = makeRuntime([fn]);
    const [fast] = appendEvents(storage, [{ series: 'A', time: 1 }]);
    appendEvents(storage, [{ series: 'B', time: 2, payload: { slow: true } }]);
    runtime.start();
    expect(await runtime.waitFor(fast, 10_000)).toEqual({ pending: 0, timedOut: false });
    expect((await runtime.drain(50)).timedOut).toBe(true);
    gate.resolve();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });
  });
});
