import { afterEach, describe, expect, it } from 'vitest';
import { NonRetriableError } from '../../src/runtime/errors.js';
import { defineFunction } from '../../src/runtime/define.js';
import {
  appendEvents,
  closeRuntimes,
  countLogEvents,
  createEffectTable,
  makeRuntime,
  TEST_EVENT,
  type TestEvent,
} from '../helpers/runtime.js';

afterEach(closeRuntimes);

const INLINE = 'test.inline';
const LOGGED = 'test.logged';

const events = (n: number): TestEvent[] => Array.from({ length: n }, (_, i) => ({ series: `S${i % 3}`, time: i, payload: { i } }));

/** writer → (inline) reader → (logged) LOGGED: a two-stage pipeline like extract-features → predict. */
function pipeline(options: { failReaderOn?: (i: number) => boolean; nonRetriable?: boolean } = {}) {
  let effects!: ReturnType<typeof createEffectTable>;
  const writer = defineFunction<{ i: number }, unknown>(
    { id: 'writer', on: TEST_EVENT, batch: { maxSize: 10 }, retries: 1, backoffMs: 1 },
    ({ events, emit, effect }) => {
      for (const event of events) emit({ type: INLINE, series: event.series, time: event.time, payload: { from: event.seq, i: event.payload.i } }, event);
      effect(() => {
        for (const event of events) effects.insert('writer', event.seq);
      });
    },
  );
  const reader = defineFunction<{ from: number; i: number }, unknown>({ id: 'reader', on: INLINE }, ({ events, emit, effect }) => {
    for (const event of events) {
      if (options.failReaderOn?.(event.payload.i)) {
        throw options.nonRetriable ? new NonRetriableError(`cannot read ${event.payload.i}`) : new Error(`cannot read ${event.payload.i}`);
      }
      emit({ type: LOGGED, series: event.series, time: event.time, payload: { from: event.payload.from } }, event);
    }
    effect(() => {
      for (const event of events) effects.insert('reader', event.payload.from);
    });
  });
  const handle = makeRuntime([writer, reader], { inlineTypes: [INLINE] });
  effects = createEffectTable(handle.database.sqlite);
  return { ...handle, effects };
}

describe('inline delivery', () => {
  it('hands inline events to their function in memory and commits its effects with the emitter, never logging them', async () => {
    const { runtime, storage, database, effects } = pipeline();
    const seqs = appendEvents(storage, events(25));
    runtime.start();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });

    expect(countLogEvents(database.sqlite, INLINE)).toBe(0);
    expect(effects.seqs('writer').sort((a, b) => a - b)).toEqual(seqs);
    expect(effects.seqs('reader').sort((a, b) => a - b)).toEqual(seqs);
    // What the inline function emits to the log keeps the root of the client event.
    const logged = storage.log.readAfter(0, [LOGGED], 100);
    expect(logged).toHaveLength(25);
    for (const event of logged) expect(event.root).toBe((event.payload as { from: number }).from);

    const stats = runtime.stats();
    expect(stats.map((s) => [s.id, s.delivery])).toEqual([
      ['writer', 'log'],
      ['reader', 'inline'],
    ]);
    const reader = stats.find((s) => s.id === 'reader')!;
    expect(reader.lag).toBe(0);
    expect(reader.invocations).toBe(stats.find((s) => s.id === 'writer')!.invocations);
    expect(reader.durationMs.p50).not.toBeNull();
  });

  it('rolls the emitter back with a failing inline function: nothing of either commits, and the event is retried then dead-lettered with the emitter', async () => {
    const { runtime, storage, database, effects } = pipeline({ failReaderOn: (i) => i === 4 });
    const seqs = appendEvents(storage, events(10));
    runtime.start();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });

    const culprit = seqs[4];
    const others = seqs.filter((s) => s !== culprit);
    // Every other event went through both functions exactly once; the culprit through neither.
    expect(effects.seqs('writer').sort((a, b) => a - b)).toEqual(others);
    expect(effects.seqs('reader').sort((a, b) => a - b)).toEqual(others);
    expect(countLogEvents(database.sqlite, LOGGED)).toBe(9);
    const dead = storage.deliveries.listDead({ limit: 10 });
    expect(dead.map((d) => [d.functionId, d.seq, d.attempts])).toEqual([['writer', culprit, 2]]);
    expect(dead[0].lastError).toMatch(/^Error: reader: Error: cannot read 4/);
    const reader = runtime.stats().find((s) => s.id === 'reader')!;
    expect(reader.failures).toBeGreaterThanOrEqual(2);
  });

  it('keeps a NonRetriableError of an inline function non-retriable', async () => {
    const { runtime, storage, effects } = pipeline({ failReaderOn: (i) => i === 0, nonRetriable: true });
    const [seq] = appendEvents(storage, events(1));
    runtime.start();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });
    const [dead] = storage.deliveries.listDead({ limit: 10 });
    expect(dead.seq).toBe(seq);
    expect(dead.attempts).toBe(1);
    expect(dead.lastError).toMatch(/NonRetriableError: reader: /);
    expect(effects.count('writer')).toBe(0);
  });

  it('refuses a function triggered by both inline and logged types', () => {
    const mixed = defineFunction({ id: 'mixed', on: [INLINE, TEST_EVENT] }, () => undefined);
    expect(() => makeRuntime([mixed], { inlineTypes: [INLINE] })).toThrow(/mixes inline and logged triggers/);
  });

  it('stops an inline chain that keeps emitting what triggers itself', async () => {
    const start = defineFunction({ id: 'start', on: TEST_EVENT, retries: 0 }, ({ events, emit }) => {
      for (const event of events) emit({ type: INLINE, series: event.series, time: event.time, payload: {} }, event);
    });
    const loop = defineFunction({ id: 'loop', on: INLINE }, ({ events, emit }) => {
      for (const event of events) emit({ type: INLINE, series: event.series, time: event.time, payload: {} }, event);
    });
    const { runtime, storage } = makeRuntime([start, loop], { inlineTypes: [INLINE] });
    appendEvents(storage, events(1));
    runtime.start();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });
    const [dead] = storage.deliveries.listDead({ limit: 10 });
    expect(dead.functionId).toBe('start');
    expect(dead.lastError).toMatch(/nest deeper than/);
  });
});
