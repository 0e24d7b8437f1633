import { afterEach, describe, expect, it } from 'vitest';
import { hashKey, KeyIndex } from '../../src/db/key-index.js';
import { createSqliteRuntimeStorage } from '../../src/db/runtime-storage.js';
import type { AppendOutcome, RuntimeStorage } from '../../src/runtime/types.js';
import { cleanupTemp, openTestDatabase, tempDbPath } from '../helpers/service.js';

const seqsOf = (index: KeyIndex, type: string, key: string) => {
  const seqs: number[] = [];
  index.find(type, key, (seq) => {
    seqs.push(seq);
    return false;
  });
  return seqs;
};

describe('KeyIndex', () => {
  it('finds every key added, through growth, and nothing else', () => {
    const index = new KeyIndex(16);
    for (let i = 1; i <= 5_000; i++) index.add('t', `key-${i}`, i, false);
    expect(index.size).toBe(5_000);
    for (let i = 1; i <= 5_000; i++) expect(seqsOf(index, 't', `key-${i}`)).toContain(i);
    expect(seqsOf(index, 't', 'key-5001')).toEqual([]);
    expect(seqsOf(index, 'u', 'key-1')).not.toContain(1);
  });

  it('forgets what was added after a mark when rolled back, keeps it when committed, also across growth', () => {
    const index = new KeyIndex(16);
    index.add('t', 'kept', 1, true);
    const mark = index.mark();
    for (let i = 2; i <= 100; i++) index.add('t', `undone-${i}`, i, true);
    index.rollbackTo(mark);
    expect(index.size).toBe(1);
    expect(seqsOf(index, 't', 'kept')).toEqual([1]);
    expect(seqsOf(index, 't', 'undone-50')).toEqual([]);
    index.commit();
    index.rollbackTo(0);
    expect(seqsOf(index, 't', 'kept')).toEqual([1]);
    // A slot freed by a rollback is used again.
    index.add('t', 'undone-50', 7, false);
    expect(seqsOf(index, 't', 'undone-50')).toEqual([7]);
  });

  it('stays small and finds its way through many rolled-back transactions', () => {
    const index = new KeyIndex(16);
    for (let i = 1; i <= 5; i++) index.add('t', `live-${i}`, i, false);
    for (let round = 0; round < 20_000; round++) {
      const mark = index.mark();
      index.add('t', `attempt-${round}`, 100 + round, true);
      index.rollbackTo(mark);
      expect(index.find('t', `attempt-${round}`, () => true)).toBe(false);
    }
    expect(index.size).toBe(5);
    expect(index.capacity).toBeLessThanOrEqual(32);
    for (let i = 1; i <= 5; i++) expect(seqsOf(index, 't', `live-${i}`)).toEqual([i]);
  });

  it('hands the entries of two keys whose slots hold the same 32 bits to the caller, who compares the key', () => {
    const [first, second] = collidingKeys('t');
    expect(hashKey('t', first)).not.toBe(hashKey('t', second));
    const index = new KeyIndex();
    index.add('t', first, 1, false);
    index.add('t', second, 2, false);
    expect(seqsOf(index, 't', first)).toEqual([1, 2]);
    expect(seqsOf(index, 't', second)).toEqual([1, 2]);
  });

  it('hands every entry of one key to the caller until it says stop', () => {
    const index = new KeyIndex();
    index.add('t', 'same', 1, false);
    index.add('t', 'same', 2, false);
    expect(seqsOf(index, 't', 'same')).toEqual([1, 2]);
    let visited = 0;
    expect(index.find('t', 'same', () => ++visited === 1)).toBe(true);
    expect(visited).toBe(1);
  });

  it('hashes to 53 bits, type and key both counting', () => {
    const hashes = new Set<number>();
    for (let i = 0; i < 100_000; i++) {
      const hash = hashKey('fare.observed', `2016-04-01T09:00:00.000Z@BCN-BUD-${i}`);
      expect(Number.isSafeInteger(hash) && hash >= 0).toBe(true);
      hashes.add(hash);
    }
    expect(hashes.size).toBe(100_000);
    expect(hashKey('a', 'bc')).not.toBe(hashKey('ab', 'c'));
  });
});

/** Two keys whose hashes share their low 32 bits, the part a slot keeps (about 2¹⁶ tries). */
function collidingKeys(type: string): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const key = `key-${i}`;
    const low = hashKey(type, key) % 0x100000000;
    const earlier = seen.get(low);
    if (earlier !== undefined) return [earlier, key];
    seen.set(low, key);
  }
}

afterEach(cleanupTemp);

const connect = (path: string): RuntimeStorage => createSqliteRuntimeStorage(openTestDatabase(path).sqlite);

const appendKey = (storage: RuntimeStorage, key: string, payload: unknown = { key }): AppendOutcome =>
  storage.transaction(() =>
    storage.log.appendKeyed({ type: 'test', key, contentOf: JSON.stringify, series: 'S', time: 0, payload }),
  );

describe('idempotency keys of the SQLite log', () => {
  it('finds a key another connection stored after this one had loaded its keys', () => {
    const path = tempDbPath();
    const mine = connect(path);
    const other = connect(path);
    expect(appendKey(mine, 'a')).toMatchObject({ kind: 'accepted', seq: 1 });
    expect(appendKey(other, 'b')).toMatchObject({ kind: 'accepted', seq: 2 });
    expect(appendKey(mine, 'b')).toEqual({ kind: 'duplicate', seq: 2 });
    expect(appendKey(mine, 'b', { other: true })).toEqual({ kind: 'conflict', key: 'b' });
    expect(appendKey(other, 'a')).toEqual({ kind: 'duplicate', seq: 1 });
  });

  it('forgets the keys of a transaction or savepoint that rolled back', () => {
    const storage = connect(tempDbPath());
    expect(() =>
      storage.transaction(() => {
        appendKey(storage, 'rolled-back');
        throw new Error('abort');
      }),
    ).toThrow('abort');
    storage.transaction(() => {
      appendKey(storage, 'kept');
      expect(() =>
        storage.transaction(() => {
          appendKey(storage, 'in-savepoint');
          throw new Error('abort');
        }),
      ).toThrow('abort');
      // Within the same transaction the key is free again.
      expect(appendKey(storage, 'in-savepoint').kind).toBe('accepted');
    });
    expect(appendKey(storage, 'rolled-back').kind).toBe('accepted');
    expect(appendKey(storage, 'kept').kind).toBe('duplicate');
    expect(appendKey(storage, 'in-savepoint').kind).toBe('duplicate');
  });

  it('tells apart two keys whose slots hold the same 32 bits, by reading their events', () => {
    const path = tempDbPath();
    const [first, second] = collidingKeys('test');
    const storage = connect(path);
    expect(appendKey(storage, first)).toMatchObject({ kind: 'accepted', seq: 1 });
    expect(appendKey(storage, second)).toMatchObject({ kind: 'accepted', seq: 2 });
    expect(appendKey(storage, second)).toEqual({ kind: 'duplicate', seq: 2 });
    expect(appendKey(storage, first)).toEqual({ kind: 'duplicate', seq: 1 });
    expect(appendKey(storage, first, { other: true })).toEqual({ kind: 'conflict', key: first });
    // And after a restart, from the stored blocks.
    const reopened = connect(path);
    expect(appendKey(reopened, second)).toEqual({ kind: 'duplicate', seq: 2 });
    expect(appendKey(reopened, first)).toEqual({ kind: 'duplicate', seq: 1 });
  });

  it('loads its keys at warm-up, and its first write still finds keys stored after that', () => {
    const path = tempDbPath();
    const first = connect(path);
    expect(appendKey(first, 'before').kind).toBe('accepted');
    const warmed = connect(path);
    warmed.warm!();
    expect(appendKey(first, 'after')).toMatchObject({ kind: 'accepted', seq: 2 });
    expect(appendKey(warmed, 'after')).toEqual({ kind: 'duplicate', seq: 2 });
    expect(appendKey(warmed, 'before')).toEqual({ kind: 'duplicate', seq: 1 });
    expect(appendKey(warmed, 'new')).toMatchObject({ kind: 'accepted', seq: 3 });
  });

  it('finds a key twice in one transaction as a duplicate of the first', () => {
    const storage = connect(tempDbPath());
    const outcomes = storage.transaction(() => [appendKey(storage, 'x'), appendKey(storage, 'x')]);
    expect(outcomes).toEqual([
      { kind: 'accepted', seq: 1 },
      { kind: 'duplicate', seq: 1 },
    ]);
  });

  it('reads the keys of a database opened again', () => {
    const path = tempDbPath();
    const handle = openTestDatabase(path);
    const first = createSqliteRuntimeStorage(handle.sqlite);
    for (let i = 0; i < 50; i++) appendKey(first, `k${i}`);
    // One block of hashes per transaction that appended keys, 16 bytes a key.
    const blocks = handle.sqlite.prepare('SELECT entries FROM event_key_blocks').pluck().all() as Buffer[];
    expect(blocks.map((b) => b.length)).toEqual(new Array(50).fill(16));
    handle.close();
    const reopened = connect(path);
    expect(appendKey(reopened, 'k49')).toEqual({ kind: 'duplicate', seq: 50 });
    expect(appendKey(reopened, 'k50')).toMatchObject({ kind: 'accepted', seq: 51 });
  });
});

describe('appending keyed events outside the storage', () => {
  it('refuses a transaction the storage did not open, whose commit it would not see', () => {
    const { sqlite } = openTestDatabase();
    const storage = createSqliteRuntimeStorage(sqlite);
    expect(() => sqlite.transaction(() => appendKey(storage, 'raw'))()).toThrow(/inside storage.transaction/);
    expect(appendKey(storage, 'raw').kind).toBe('accepted');
  });
});
