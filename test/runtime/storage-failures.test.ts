import { afterEach, describe, expect, it } from 'vitest';
import { defineFunction } from '../../src/runtime/define.js';
import type { RuntimeStorage } from '../../src/runtime/types.js';
import { appendEvents, CallLog, closeRuntimes, makeRuntime, sleep, TEST_EVENT } from '../helpers/runtime.js';

afterEach(closeRuntimes);

const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

/** Wraps one storage method so that its next `times` calls throw SQLITE_BUSY. */
function failing<K extends keyof RuntimeStorage['deliveries'] | keyof RuntimeStorage['log']>(
  where: 'deliveries' | 'log',
  method: K,
  state: { times: number; calls: number },
) {
  return (storage: RuntimeStorage): RuntimeStorage => {
    const target = storage[where] as unknown as Record<string, (...args: unknown[]) => unknown>;
    const wrapped = {
      ...target,
      [method]: (...args: unknown[]) => {
        state.calls++;
        if (state.times > 0) {
          state.times--;
          throw busy();
        }
        return target[method as string](...args);
      },
    };
    return { ...storage, [where]: wrapped } as RuntimeStorage;
  };
}

describe('storage failures in the runtime', () => {
  it('survives a locked database while scheduling the next retry, without an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const state = { times: 2, calls: 0 };
      const log = new CallLog();
      const fn = defineFunction({ id: 'plain', on: TEST_EVENT }, ({ events, attempt }) => log.record(events, attempt, true));
      const { runtime, storage } = makeRuntime([fn], { pollIntervalMs: 20, storage: failing('deliveries', 'nextDue', state) });
      appendEvents(storage, [{ series: 'A', time: 1 }]);
      runtime.start();
      await runtime.drain(5_000);
      // Let the worker finish its loop and hit the failing calls.
      for (let i = 0; i < 200 && state.times > 0; i++) await sleep(10);
      expect(state.times).toBe(0);
      await sleep(50);
      expect(unhandled).toEqual([]);

      // It still works afterwards.
      const [later] = appendEvents(storage, [{ series: 'A', time: 2 }]);
      runtime.notify();
      expect(await runtime.drain(5_000)).toEqual({ pending: 0, timedOut: false });
      expect(log.delivered()).toContain(later);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('backs off when reading the log fails and picks the events up on a later poll', async () => {
    const state = { times: 3, calls: 0 };
    const log = new CallLog();
    const fn = defineFunction({ id: 'plain', on: TEST_EVENT, batch: { maxSize: 10 } }, ({ events, attempt }) =>
      log.record(events, attempt, true),
    );
    const { runtime, storage } = makeRuntime([fn], { pollIntervalMs: 20, storage: failing('log', 'readAfter', state) });
    const seqs = appendEvents(storage, [
      { series: 'A', time: 1 },
      { series: 'B', time: 2 },
    ]);
    runtime.start();
    expect(await runtime.drain(5_000)).toEqual({ pending: 0, timedOut: false });
    expect(state.times).toBe(0);
    expect(log.delivered().sort((a, b) => a - b)).toEqual(seqs);
  });
});
