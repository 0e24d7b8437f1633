import { afterEach, describe, expect, it } from 'vitest';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import type { FareEvent } from '../../src/events/fare-event.js';
import type { FunctionDeps } from '../../src/functions/deps.js';
import { extractFeatures } from '../../src/functions/extract-features.js';
import { defineFunction } from '../../src/runtime/define.js';
import type { LoggedEvent } from '../../src/runtime/types.js';
import type { Service } from '../../src/service.js';
import { fareSeries } from '../helpers/events.js';
import { body, post } from '../helpers/http.js';
import { createEffectTable, deferred, sleep, within } from '../helpers/runtime.js';
import { closeServices, makeService, tempDbPath } from '../helpers/service.js';

afterEach(closeServices);

type EffectTable = ReturnType<typeof createEffectTable>;

/**
 * A function that counts its invocations per seq (in memory, across restarts) and
 * writes one durable row per event through an effect.
 */
function countingFunction(
  counts: Map<number, number>,
  table: () => EffectTable,
  options: { onInvoke?: (events: LoggedEvent<FareEvent>[]) => void | Promise<void>; retries?: number; backoffMs?: number } = {},
) {
  return defineFunction<FareEvent, FunctionDeps>(
    { id: 'counter', on: FARE_OBSERVED, batch: { maxSize: 10 }, retries: options.retries, backoffMs: options.backoffMs },
    async ({ events, effect }) => {
      for (const e of events) counts.set(e.seq, (counts.get(e.seq) ?? 0) + 1);
      await options.onInvoke?.(events);
      effect(() => {
        for (const e of events) table().insert('counter', e.seq);
      });
    },
  );
}

function fareSeqs(service: Service): number[] {
  return service.storage.log.readAfter(0, [FARE_OBSERVED], 100_000).map((e) => e.seq);
}

const EVENTS = [...fareSeries(25, { departureDate: '2016-04-20' }), ...fareSeries(22, { departureDate: '2016-04-21' })];

describe('resuming after a restart', () => {
  it('processes every event exactly once across a stop and a restart on the same database file', async () => {
    const path = tempDbPath();
    const counts = new Map<number, number>();
    let table!: EffectTable;
    let stopping: Promise<void> | undefined;
    const firstBatch = deferred();
    // The first run stops itself during its first batch of the counter.
    const first: Service = makeService({
      dbPath: path,
      functions: [
        extractFeatures,
        countingFunction(counts, () => table, {
          onInvoke: () => {
            stopping ??= first.runtime.stop();
            firstBatch.resolve();
          },
        }),
      ],
    });
    table = createEffectTable(first.database.sqlite);
    const res = await post(first.app, EVENTS);
    expect(await body(res)).toEqual({ accepted: 47, duplicates: 0 });
    first.runtime.start();
    await within(firstBatch.promise, 10_000, 'the first batch');
    await stopping;

    expect(counts.size).toBe(10);
    expect(table.count('counter')).toBe(10);
    const counter = first.runtime.stats().find((s) => s.id === 'counter');
    expect(counter?.lag).toBe(37);
    await first.close();

    const second = makeService({ dbPath: path, functions: [extractFeatures, countingFunction(counts, () => table)] });
    table = createEffectTable(second.database.sqlite);
    second.runtime.start();
    expect(await second.runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });

    const seqs = fareSeqs(second);
    expect(seqs).toHaveLength(47);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(seqs);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(table.seqs('counter').sort((a, b) => a - b)).toEqual(seqs);
    // extract-features, stopped wherever it was, also folded each event in exactly once.
    expect(second.functionDeps.series.history('BCN-BUD-2016-04-20')).toHaveLength(25);
    expect(second.functionDeps.series.history('BCN-BUD-2016-04-21')).toHaveLength(22);
    // Idempotency keys survive too.
    expect(await body(await post(second.app, EVENTS))).toEqual({ accepted: 0, duplicates: 47 });
  });

  it('redelivers an invocation cut off by a crash, and applies its effects only once', async () => {
    const path = tempDbPath();
    const counts = new Map<number, number>();
    let table!: EffectTable;
    const entered = deferred();
    const gate = deferred();
    const crashing = makeService({
      dbPath: path,
      functions: [
        countingFunction(counts, () => table, {
          onInvoke: async () => {
            entered.resolve();
            await gate.promise;
          },
        }),
      ],
    });
    table = createEffectTable(crashing.database.sqlite);
    expect((await post(crashing.app, EVENTS.slice(0, 30))).status).toBe(202);
    crashing.runtime.start();
    await within(entered.promise, 10_000, 'the first invocation');
    const inFlight = [...counts.keys()];
    expect(inFlight).toHaveLength(10);

    // The database goes away mid-invocation: nothing of it may be committed.
    crashing.database.close();
    const stopping = crashing.runtime.stop();
    gate.resolve();
    await stopping;
    await crashing.close();

    const restarted = makeService({ dbPath: path, functions: [countingFunction(counts, () => table)] });
    table = createEffectTable(restarted.database.sqlite);
    expect(table.count('counter')).toBe(0);
    restarted.runtime.start();
    expect(await restarted.runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });

    const seqs = fareSeqs(restarted);
    expect(seqs).toHaveLength(30);
    // Effects: exactly once per event. Invocations: the cut-off batch ran twice, the rest once.
    expect(table.seqs('counter').sort((a, b) => a - b)).toEqual(seqs);
    for (const seq of seqs) expect(counts.get(seq), `seq ${seq}`).toBe(inFlight.includes(seq) ? 2 : 1);
  });

  it('resumes a delivery that was waiting for its retry, then the events parked behind it, in order', async () => {
    const path = tempDbPath();
    const counts = new Map<number, number>();
    let table!: EffectTable;
    const events = fareSeries(5, { departureDate: '2016-05-01' });
    const broken = makeService({
      dbPath: path,
      functions: [
        countingFunction(counts, () => table, {
          retries: 5,
          backoffMs: 100,
          onInvoke: () => {
            throw new Error('downstream unavailable');
          },
        }),
      ],
    });
    table = createEffectTable(broken.database.sqlite);
    expect((await post(broken.app, events)).status).toBe(202);
    broken.runtime.start();
    // Wait until the first event failed alone at least once (a retry is then scheduled).
    for (let i = 0; i < 500; i++) {
      const [head] = broken.storage.deliveries.duePending('counter', Number.MAX_SAFE_INTEGER, 1);
      if (head && head.attempts >= 1) break;
      await sleep(10);
    }
    await broken.close();

    const delivered: number[] = [];
    const healthy = makeService({
      dbPath: path,
      functions: [countingFunction(counts, () => table, { onInvoke: (batch) => void delivered.push(...batch.map((e) => e.seq)) })],
    });
    table = createEffectTable(healthy.database.sqlite);
    expect(healthy.storage.deliveries.countPending('counter')).toBe(5);
    healthy.runtime.start();
    expect(await healthy.runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });
    const seqs = fareSeqs(healthy);
    expect(delivered).toEqual(seqs);
    expect(table.seqs('counter')).toEqual(seqs);
    expect(healthy.storage.deliveries.listDead({ limit: 10 })).toEqual([]);
  });
});
