import { afterEach, describe, expect, it } from 'vitest';
import { defineFunction } from '../../src/runtime/define.js';
import { NonRetriableError } from '../../src/runtime/errors.js';
import {
  appendEvents,
  CallLog,
  closeRuntimes,
  createEffectTable,
  makeRuntime,
  sleep,
  TEST_EVENT,
} from '../helpers/runtime.js';

afterEach(closeRuntimes);

/** A function that fails on events whose payload says `poison`, recording every call. */
function poisonable(options: { retries: number; backoffMs: number; maxSize?: number; error?: () => Error }) {
  const log = new CallLog();
  const fn = defineFunction<{ poison?: boolean }, unknown>(
    { id: 'poisonable', on: TEST_EVENT, retries: options.retries, backoffMs: options.backoffMs, batch: { maxSize: options.maxSize ?? 1 } },
    ({ events, attempt }) => {
      const poisoned = events.some((e) => e.payload.poison);
      log.record(events, attempt, !poisoned);
      if (poisoned) throw options.error?.() ?? new Error('boom');
    },
  );
  return { fn, log };
}

describe('retries', () => {
  it('retries a failing event alone with exponential backoff, then dead-letters it after `retries` retries', async () => {
    const { fn, log } = poisonable({ retries: 2, backoffMs: 20 });
    const { runtime, storage } = makeRuntime([fn]);
    const [seq] = appendEvents(storage, [{ series: 'A', time: 1, payload: { poison: true } }]);
    runtime.start();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });

    const dead = storage.deliveries.listDead({ limit: 10 });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ functionId: 'poisonable', seq, series: 'A', status: 'dead', attempts: 3, lastError: 'Error: boom' });

    // The solo tries after the failed batch: the first, then `retries` retries.
    const solo = log.callsOf(seq).slice(-3);
    expect(solo.map((c) => c.attempt)).toEqual([1, 2, 3]);
    // Backoff doubles: 20 ms, then 40 ms (random is fixed at 0.5, a factor of 1). Allow 2 ms of timer slack.
    expect(solo[1].at - solo[0].at).toBeGreaterThanOrEqual(18);
    expect(solo[2].at - solo[1].at).toBeGreaterThanOrEqual(38);
    expect(log.calls.every((c) => !c.ok)).toBe(true);

    const [stats] = runtime.stats();
    expect(stats).toMatchObject({ id: 'poisonable', retries: 2, retriesAttempted: 2, deadLetters: 1, lag: 0 });
    expect(stats.failures).toBe(log.calls.length);
  });

  // A batch of one event that fails is that event's attempt 1: it is tried `retries` more times.
  it('runs a single-event function retries + 1 times in all before dead-lettering', async () => {
    const { fn, log } = poisonable({ retries: 2, backoffMs: 1 });
    const { runtime, storage } = makeRuntime([fn]);
    const [seq] = appendEvents(storage, [{ series: 'A', time: 1, payload: { poison: true } }]);
    runtime.start();
    await runtime.drain(10_000);
    expect(log.callsOf(seq).map((c) => c.attempt)).toEqual([1, 2, 3]);
  });

  it('a NonRetriableError skips the remaining retries', async () => {
    const { fn, log } = poisonable({ retries: 5, backoffMs: 60_000, error: () => new NonRetriableError('bad payload') });
    const { runtime, storage } = makeRuntime([fn]);
    const [seq] = appendEvents(storage, [{ series: 'A', time: 1, payload: { poison: true } }]);
    runtime.start();
    // A retry would be a minute away: a prompt drain shows none was scheduled.
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });
    const dead = storage.deliveries.listDead({ limit: 10 });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ seq, attempts: 1, lastError: 'NonRetriableError: bad payload' });
    // Exactly one solo try; no retry was attempted.
    expect(log.callsOf(seq).filter((c) => c.seqs.length === 1 && c.attempt >= 1).at(-1)?.attempt).toBe(1);
    expect(runtime.stats()[0].retriesAttempted).toBe(0);
  });

  it('a NonRetriableError from a single-event function is not tried again at all', async () => {
    const { fn, log } = poisonable({ retries: 5, backoffMs: 60_000, error: () => new NonRetriableError('bad payload') });
    const { runtime, storage } = makeRuntime([fn]);
    const [seq] = appendEvents(storage, [{ series: 'A', time: 1, payload: { poison: true } }]);
    runtime.start();
    await runtime.drain(10_000);
    expect(log.invocationsOf(seq)).toBe(1);
  });

  it('an event that fails twice and then succeeds is processed once, with its effect applied once', async () => {
    const log = new CallLog();
    let failuresLeft = 3; // the batch try (attempt 1) and two retries
    const { runtime, storage, database } = makeRuntime([
      defineFunction({ id: 'flaky', on: TEST_EVENT, retries: 3, backoffMs: 5 }, ({ events, attempt, effect }) => {
        const fail = failuresLeft > 0;
        log.record(events, attempt, !fail);
        // Registered before the failure: must not be applied by a failed invocation.
        effect(() => effects.insert('flaky', events[0].seq));
        if (fail) {
          failuresLeft--;
          throw new Error('transient');
        }
      }),
    ]);
    const effects = createEffectTable(database.sqlite);
    const [seq] = appendEvents(storage, [{ series: 'A', time: 1 }]);
    runtime.start();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });
    expect(effects.seqs('flaky')).toEqual([seq]);
    expect(log.delivered()).toEqual([seq]);
    expect(storage.deliveries.listDead({ limit: 10 })).toEqual([]);
    expect(storage.deliveries.countPending('flaky')).toBe(0);
    expect(runtime.stats()[0]).toMatchObject({ failures: 3, retriesAttempted: 3, deadLetters: 0, lag: 0 });
  });

  it('a failing batch is split: the good events are processed once each, the bad one is dead-lettered', async () => {
    const { runtime, storage, database } = makeRuntime([
      defineFunction<{ poison?: boolean }, unknown>(
        { id: 'split', on: TEST_EVENT, retries: 1, backoffMs: 1, batch: { maxSize: 10 } },
        ({ events, effect }) => {
          if (events.some((e) => e.payload.poison)) throw new Error('poison in batch');
          effect(() => {
            for (const e of events) effects.insert('split', e.seq);
          });
        },
      ),
    ]);
    const effects = createEffectTable(database.sqlite);
    const seqs = appendEvents(storage, [
      { series: 'A', time: 1 },
      { series: 'B', time: 2 },
      { series: 'C', time: 3, payload: { poison: true } },
      { series: 'D', time: 4 },
      { series: 'E', time: 5 },
    ]);
    runtime.start();
    expect(await runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });
    expect(effects.seqs('split').sort((a, b) => a - b)).toEqual([seqs[0], seqs[1], seqs[3], seqs[4]]);
    expect(storage.deliveries.listDead({ limit: 10 }).map((d) => d.seq)).toEqual([seqs[2]]);
  });

  it('stays idle while the only due work is parked behind an event waiting for its retry', async () => {
    const { fn, log } = poisonable({ retries: 5, backoffMs: 60_000 });
    let polls = 0;
    const { runtime, storage } = makeRuntime([fn], {
      storage: (s) => ({
        ...s,
        deliveries: {
          ...s.deliveries,
          duePending: (...args) => {
            polls++;
            return s.deliveries.duePending(...args);
          },
        },
      }),
    });
    const [poison, parked] = appendEvents(storage, [
      { series: 'A', time: 1, payload: { poison: true } },
      { series: 'A', time: 2 },
    ]);
    runtime.start();
    // Wait until the poison failed alone once and the next event of its series is parked.
    for (let i = 0; i < 500 && !(log.callsOf(poison).length >= 2 && storage.deliveries.blockedSeries('poisonable', ['A']).size); i++) await sleep(5);
    const before = polls;
    // Nothing can run for a minute: the worker must not spin on the parked event meanwhile.
    await sleep(300);
    expect(polls - before).toBeLessThanOrEqual(2);
    expect(log.invocationsOf(parked)).toBe(0);
  });
});
