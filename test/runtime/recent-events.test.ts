import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import type { RuntimeStorage } from '../../src/runtime/types.js';
import { cleanupTemp, openTestDatabase, tempDbPath } from '../helpers/service.js';

afterEach(cleanupTemp);

function connect(path: string, recentEvents?: number): RuntimeStorage {
  return createSqliteRuntimeStorage(openTestDatabase(path).sqlite, { recentEvents });
}

let n = 0;
function append(storage: RuntimeStorage, type: string, count: number): number[] {
  return storage.transaction(() =>
    Array.from({ length: count }, () => {
      const key = `k${++n}`;
      const outcome = storage.log.appendKeyed({ type, key, contentOf: JSON.stringify, series: `S${n % 3}`, time: n, payload: { n, nested: { list: [n] } } });
      if (outcome.kind !== 'accepted') throw new Error(outcome.kind);
      return outcome.seq;
    }),
  );
}

/** What a connection without the in-memory window reads: the log as stored. */
const stored = (path: string, types: string[]) => connect(path, 0).log.readAfter(0, types, 1_000);

describe('reading appended events from memory', () => {
  it('reads what SQLite holds, in seq order, with the same payloads, for any type filter and position', () => {
    const path = tempDbPath();
    const storage = connect(path);
    append(storage, 'a', 5);
    append(storage, 'b', 3);
    storage.transaction(() => storage.log.append([{ type: 'c', series: 'S', time: 1, root: 1, payload: { emitted: true } }]));
    append(storage, 'a', 4);
    for (const types of [['a'], ['b'], ['a', 'c'], ['a', 'b', 'c']]) {
      expect(storage.log.readAfter(0, types, 1_000)).toEqual(stored(path, types));
      expect(storage.log.readAfter(6, types, 2)).toEqual(stored(path, types).filter((e) => e.seq > 6).slice(0, 2));
    }
    expect(storage.log.read(9)).toEqual(stored(path, ['c'])[0]);
  });

  it('sees events another connection appended in between its own, in seq order', () => {
    const path = tempDbPath();
    const mine = connect(path);
    const other = connect(path);
    const first = append(mine, 'a', 3);
    const theirs = append(other, 'a', 2);
    const later = append(mine, 'a', 2);
    const read = mine.log.readAfter(0, ['a'], 100).map((e) => e.seq);
    expect(read).toEqual([...first, ...theirs, ...later]);
    expect(mine.log.readAfter(first[2], ['a'], 100).map((e) => e.seq)).toEqual([...theirs, ...later]);
    expect(mine.log.read(theirs[0])?.seq).toBe(theirs[0]);
  });

  it('never reads the events of a transaction that rolled back, nor of a rolled-back savepoint', () => {
    const path = tempDbPath();
    const storage = connect(path);
    expect(() =>
      storage.transaction(() => {
        append(storage, 'a', 2);
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(storage.log.readAfter(0, ['a'], 100)).toEqual([]);

    const kept = storage.transaction(() => {
      const outer = append(storage, 'a', 1);
      expect(() =>
        storage.transaction(() => {
          append(storage, 'a', 2);
          throw new Error('inner');
        }),
      ).toThrow('inner');
      return [...outer, ...append(storage, 'a', 1)];
    });
    expect(storage.log.readAfter(0, ['a'], 100).map((e) => e.seq)).toEqual(kept);
    expect(storage.log.readAfter(0, ['a'], 100)).toEqual(stored(path, ['a']));
  });

  it('falls back to SQLite for positions older than the window it keeps', () => {
    const path = tempDbPath();
    const storage = connect(path, 5);
    const seqs = append(storage, 'a', 20);
    expect(storage.log.readAfter(0, ['a'], 100).map((e) => e.seq)).toEqual(seqs);
    expect(storage.log.readAfter(seqs[17], ['a'], 100).map((e) => e.seq)).toEqual(seqs.slice(18));
    expect(storage.log.read(seqs[0])?.seq).toBe(seqs[0]);
  });
});
