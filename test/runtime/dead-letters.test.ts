import { afterEach, describe, expect, it } from 'vitest';
import { defineFunction } from '../../src/runtime/define.js';
import { appendEvents, CallLog, closeRuntimes, createEffectTable, makeRuntime, TEST_EVENT } from '../helpers/runtime.js';

afterEach(closeRuntimes);

/** A function that fails on payloads marked `fragile` while `state.broken` is set. */
function fragileFunction(state: { broken: boolean }) {
  const log = new CallLog();
  let effects!: ReturnType<typeof createEffectTable>;
  const fn = defineFunction<{ fragile?: boolean }, unknown>(
    { id: 'fragile', on: TEST_EVENT, retries: 1, backoffMs: 1 },
    ({ events, attempt, effect }) => {
      const fail = state.broken && events.some((e) => e.payload.fragile);
      log.record(events, attempt, !fail);
      if (fail) throw new Error('still broken');
      effect(() => {
        for (const e of events) effects.insert('fragile', e.seq);
      });
    },
  );
  return { fn, log, useEffects: (table: ReturnType<typeof createEffectTable>) => (effects = table) };
}

describe('dead letters', () => {
  it('replays a dead letter after the fix, processing it exactly once', async () => {
    const state = { broken: true };
    const { fn, log, useEffects } = fragileFunction(state);
    const { runtime, storage, database } = makeRuntime([fn]);
    const effects = useEffects(createEffectTable(database.sqlite));
    const [a, b, c] = appendEvents(storage, [
      { series: 'A', time: 1 },
      { series: 'B', time: 2, payload: { fragile: true } },
      { series: 'C', time: 3 },
    ]);
    runtime.start();
    await runtime.drain(10_000);
    const dead = storage.deliveries.listDead({ limit: 10 });
    expect(dead.map((d) => d.seq)).toEqual([b]);
    expect(effects.seqs('fragile').sort()).toEqual([a, c].sort());
    expect(runtime.stats()[0].deadLetters).toBe(1);

    state.broken = false;
    expect(runtime.replayDeadLetter(dead[0].id)).toBe(true);
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });
    expect(log.delivered().filter((s) => s === b)).toEqual([b]);
    expect(effects.seqs('fragile').filter((s) => s === b)).toEqual([b]);
    expect(storage.deliveries.listDead({ limit: 10 })).toEqual([]);
    expect(runtime.stats()[0]).toMatchObject({ deadLetters: 0, lag: 0 });

    // It is gone: a second replay finds nothing, and nothing is processed again.
    expect(runtime.replayDeadLetter(dead[0].id)).toBe(false);
    await runtime.drain(10_000);
    expect(effects.count('fragile')).toBe(3);
  });

  it('a replay that fails again goes back to the dead letters with fresh retries', async () => {
    const state = { broken: true };
    const { fn, log, useEffects } = fragileFunction(state);
    const { runtime, storage, database } = makeRuntime([fn]);
    const effects = useEffects(createEffectTable(database.sqlite));
    const [seq] = appendEvents(storage, [{ series: 'B', time: 2, payload: { fragile: true } }]);
    runtime.start();
    await runtime.drain(10_000);
    const [first] = storage.deliveries.listDead({ limit: 10 });
    const triesBefore = log.invocationsOf(seq);

    expect(runtime.replayDeadLetter(first.id)).toBe(true);
    await runtime.drain(10_000);
    const [again] = storage.deliveries.listDead({ limit: 10 });
    expect(again).toMatchObject({ id: first.id, seq, attempts: 2, lastError: 'Error: still broken' });
    // The replay got the first try and `retries` (1) retries again.
    expect(log.invocationsOf(seq) - triesBefore).toBe(2);
    expect(effects.count('fragile')).toBe(0);
  });

  it('replayDeadLetter returns false for an unknown id', async () => {
    const state = { broken: true };
    const { fn } = fragileFunction(state);
    const { runtime } = makeRuntime([fn]);
    expect(runtime.replayDeadLetter(12345)).toBe(false);
  });

  it('lists dead letters per function and pages through them by id', async () => {
    const state = { broken: true };
    const { fn } = fragileFunction(state);
    const other = defineFunction({ id: 'other', on: TEST_EVENT, retries: 0, backoffMs: 1 }, () => {
      throw new Error('always');
    });
    const { runtime, storage } = makeRuntime([fn, other]);
    appendEvents(storage, [
      { series: 'A', time: 1, payload: { fragile: true } },
      { series: 'B', time: 2, payload: { fragile: true } },
      { series: 'C', time: 3, payload: { fragile: true } },
    ]);
    runtime.start();
    await runtime.drain(10_000);
    expect(storage.deliveries.listDead({ functionId: 'fragile', limit: 10 })).toHaveLength(3);
    expect(storage.deliveries.listDead({ functionId: 'other', limit: 10 })).toHaveLength(3);
    const all = storage.deliveries.listDead({ limit: 10 });
    expect(all).toHaveLength(6);
    const page1 = storage.deliveries.listDead({ limit: 4 });
    const page2 = storage.deliveries.listDead({ limit: 4, afterId: page1[page1.length - 1].id });
    expect([...page1, ...page2].map((d) => d.id)).toEqual(all.map((d) => d.id));
    expect(runtime.stats().map((s) => [s.id, s.deadLetters])).toEqual([
      ['fragile', 3],
      ['other', 3],
    ]);
  });
});
