import { afterEach, describe, expect, it } from 'vitest';
import { defineFunction } from '../../src/runtime/define.js';
import { appendEvents, closeRuntimes, createEffectTable, makeRuntime, TEST_EVENT, type TestRuntime } from '../helpers/runtime.js';
import { cleanupTemp, tempDbPath } from '../helpers/service.js';

afterEach(async () => {
  await closeRuntimes();
  cleanupTemp();
});

describe('two runtimes on one database', () => {
  it('applies each effect exactly once when two processes consume the same log', async () => {
    const path = tempDbPath();
    const invocations = new Map<number, number>();
    const failuresLeft = new Map<number, number>();

    // The same function in two "processes": separate connections to one database file.
    const build = (): TestRuntime => {
      let table!: ReturnType<typeof createEffectTable>;
      const fn = defineFunction({ id: 'shared', on: TEST_EVENT, batch: { maxSize: 7 }, retries: 5, backoffMs: 2 }, async ({ events, effect }) => {
        for (const e of events) invocations.set(e.seq, (invocations.get(e.seq) ?? 0) + 1);
        // Yield so the other runtime gets to read the same cursor meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
        for (const e of events) {
          const left = failuresLeft.get(e.seq) ?? 0;
          if (left > 0) {
            failuresLeft.set(e.seq, left - 1);
            throw new Error(`transient failure of ${e.seq}`);
          }
        }
        effect(() => {
          for (const e of events) table.insert('shared', e.seq);
        });
      });
      const handle = makeRuntime([fn], { path, pollIntervalMs: 20 });
      table = createEffectTable(handle.database.sqlite);
      return handle;
    };
    const one = build();
    const two = build();

    const seqs = appendEvents(
      one.storage,
      Array.from({ length: 300 }, (_, i) => ({ series: `S${i % 13}`, time: i })),
    );
    for (const seq of seqs.filter((_, i) => i % 37 === 5)) failuresLeft.set(seq, 2);
    one.runtime.start();
    two.runtime.start();
    expect(await one.runtime.drain(20_000)).toEqual({ pending: 0, timedOut: false });
    expect(await two.runtime.drain(20_000)).toEqual({ pending: 0, timedOut: false });

    const rows = one.database.sqlite.prepare("SELECT seq, count(*) AS n FROM test_effects WHERE fn = 'shared' GROUP BY seq").all() as {
      seq: number;
      n: number;
    }[];
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    expect(rows.filter((r) => r.n !== 1)).toEqual([]);
    expect(one.storage.deliveries.listDead({ limit: 10 })).toEqual([]);
    // Every event reached the handler at least once.
    expect(seqs.filter((seq) => !invocations.has(seq))).toEqual([]);
  });
});
