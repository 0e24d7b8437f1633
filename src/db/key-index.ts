import type Database from 'better-sqlite3';
import { decodePayload, DERIVED_KEY_TYPES, derivedKeyOf } from './payloads.js';

/**
 * The idempotency keys of the event log, in memory: a hash of each key mapped to the seq of
 * its event. It replaces a unique index on the log, which cost a b-tree insert per event at a
 * page the keys scatter to (3.8 µs of the log insert's 8.6 µs per event, bulk data in file
 * order). A hash is only a hint: whoever finds one reads the event at its seq and compares the
 * key, so a collision costs one read and never a wrong answer.
 *
 * Open addressing with linear probing over typed arrays (8 bytes a slot, no object per key):
 * a slot holds the low 32 bits of the key's hash, which also place it, and the seq. A key not
 * in the index meets another's 32 bits with a chance of about 2⁻³¹ per lookup, and pays one read.
 * Like Bitcask's hint files, the full hashes are also stored, in blocks written with the
 * events, so that a restart reads 16 bytes a key instead of the whole log.
 * Entries added inside a transaction are removed again if it rolls back ({@link mark},
 * {@link rollbackTo}).
 */
export class KeyIndex {
  /** The low 32 bits of each slot's hash. */
  private fingerprints: Uint32Array;
  private seqs: Uint32Array;
  private mask: number;
  private used = 0;
  /** Slots of rolled-back entries: probes pass over them, inserts fill them again. */
  private removed = 0;
  /** Slots filled since the outermost transaction began, in order, to undo a rollback. */
  private staged: number[] = [];

  constructor(initialCapacity = 1024) {
    let capacity = 16;
    while (capacity < initialCapacity) capacity *= 2;
    this.fingerprints = new Uint32Array(capacity);
    this.seqs = new Uint32Array(capacity);
    this.mask = capacity - 1;
  }

  /** How many keys it holds. */
  get size(): number {
    return this.used;
  }

  /** Slots allocated (a power of two). */
  get capacity(): number {
    return this.mask + 1;
  }

  /** Makes room for `size` keys in all, so that loading them rehashes once at most. */
  reserve(size: number): void {
    while (size * 10 > (this.mask + 1) * 7) this.grow((this.mask + 1) * 2);
  }

  /** Calls `visit` with the seq of every entry whose hash matches `key`'s until it returns true. */
  find(type: string, key: string, visit: (seq: number) => boolean): boolean {
    const fingerprint = fingerprintOf(hashKey(type, key));
    for (let slot = fingerprint & this.mask; this.seqs[slot] !== EMPTY; slot = (slot + 1) & this.mask) {
      const seq = this.seqs[slot];
      if (seq !== REMOVED && this.fingerprints[slot] === fingerprint && visit(seq)) return true;
    }
    return false;
  }

  /** Adds the key of the event at `seq` (seqs start at 1); returns its hash. */
  add(type: string, key: string, seq: number, inTransaction: boolean): number {
    const hash = hashKey(type, key);
    this.addHash(hash, seq, inTransaction);
    return hash;
  }

  /** Adds a key by its {@link hashKey}, as read back from where the hashes are stored. */
  addHash(hash: number, seq: number, inTransaction: boolean): void {
    const capacity = this.mask + 1;
    // Full slots and removed ones both lengthen probes: past 70%, rehash (and purge the removed),
    // doubling only when the live entries alone need it.
    if ((this.used + this.removed + 1) * 10 > capacity * 7) {
      this.grow((this.used + 1) * 10 > capacity * 3.5 ? capacity * 2 : capacity);
    }
    const slot = this.insert(fingerprintOf(hash), seq);
    if (inTransaction) this.staged.push(slot);
  }

  /** A position to roll back to. */
  mark(): number {
    return this.staged.length;
  }

  /** Removes what was added since `mark`. */
  rollbackTo(mark: number): void {
    for (let i = this.staged.length - 1; i >= mark; i--) {
      this.seqs[this.staged[i]] = REMOVED;
      this.used--;
      this.removed++;
    }
    this.staged.length = mark;
  }

  /** Keeps what was added: the outermost transaction committed. */
  commit(): void {
    this.staged.length = 0;
  }

  private insert(fingerprint: number, seq: number): number {
    let slot = fingerprint & this.mask;
    while (this.seqs[slot] !== EMPTY && this.seqs[slot] !== REMOVED) slot = (slot + 1) & this.mask;
    if (this.seqs[slot] === REMOVED) this.removed--;
    this.fingerprints[slot] = fingerprint;
    this.seqs[slot] = seq;
    this.used++;
    return slot;
  }

  private grow(capacity: number): void {
    // Slots move in a rehash: find the staged entries again, in the order they were added.
    const staged = this.staged.map((slot) => [this.fingerprints[slot], this.seqs[slot]] as const);
    this.rehash(capacity);
    this.staged = staged.map(([fingerprint, seq]) => {
      let slot = fingerprint & this.mask;
      while (this.seqs[slot] !== seq || this.fingerprints[slot] !== fingerprint) slot = (slot + 1) & this.mask;
      return slot;
    });
  }

  private rehash(capacity: number): void {
    const { fingerprints, seqs } = this;
    this.fingerprints = new Uint32Array(capacity);
    this.seqs = new Uint32Array(capacity);
    this.mask = capacity - 1;
    this.used = 0;
    this.removed = 0;
    for (let slot = 0; slot < seqs.length; slot++) {
      if (seqs[slot] !== EMPTY && seqs[slot] !== REMOVED) this.insert(fingerprints[slot], seqs[slot]);
    }
  }
}

const EMPTY = 0;
const REMOVED = 0xffffffff;

/** The low 32 bits of a {@link hashKey}, as an unsigned integer. */
const fingerprintOf = (hash: number) => (hash % 0x100000000) >>> 0;

/**
 * A 53-bit hash of a type and key (two 32-bit multiply-xorshift lanes, after cyrb53): exact
 * in a double, so it needs no BigInt.
 */
export function hashKey(type: string, key: string): number {
  let h1 = 0xdeadbeef ^ type.length;
  let h2 = 0x41c6ce57 ^ type.length;
  for (let i = 0; i < type.length; i++) {
    const c = type.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** A position in a {@link StoredKeys}' transaction to roll back to. */
export interface KeysMark {
  readonly index: number;
  readonly block: number;
}

/** The log's keys as a {@link KeyIndex}, kept in step with what SQLite holds. */
export interface StoredKeys {
  /** Reads what other connections stored since the last look; call inside a write transaction. */
  ensureCurrent(): void;
  /**
   * Reads every key stored so far, outside any transaction: the next write transaction then
   * reads only the blocks stored since, and still reads them.
   */
  load(): void;
  /** See {@link KeyIndex.find}. */
  find(type: string, key: string, visit: (seq: number) => boolean): boolean;
  /** Records the key of an event this transaction appended. */
  added(type: string, key: string, seq: number): void;
  mark(): KeysMark;
  /** Undoes what was added since `mark`; `outermost` when the whole transaction rolled back. */
  rollbackTo(mark: KeysMark, outermost: boolean): void;
  /** Writes this transaction's block of hashes; call last inside the outermost transaction. */
  beforeCommit(): void;
  /** The outermost transaction committed. */
  committed(): void;
}

/**
 * The keys of `event_log`, stored as blocks of hashes in `event_key_blocks` (see
 * {@link KeyIndex}). The first look reads every block; later ones read the blocks added
 * since, one query. A look happens once per outermost transaction, under its write lock
 * (transactions are IMMEDIATE): whatever other connections committed is then read, and none
 * can commit until this one does. What a look reads was committed, so it stays whatever
 * this transaction does. A database from before the blocks has its keys read from the log at
 * the first look, and written as a block with the next commit.
 */
export function createStoredKeys(sqlite: Database.Database): StoredKeys {
  const blocksAfter = sqlite.prepare('SELECT id, entries FROM event_key_blocks WHERE id > ? ORDER BY id').raw();
  const sizeAfter = sqlite.prepare('SELECT coalesce(sum(length(entries)), 0) FROM event_key_blocks WHERE id > ?').pluck();
  const insertBlock = sqlite.prepare('INSERT INTO event_key_blocks (entries) VALUES (?)');
  const anyBlock = sqlite.prepare('SELECT 1 FROM event_key_blocks LIMIT 1').pluck();
  const logKeys = sqlite
    .prepare(
      `SELECT seq, type, key, payload FROM event_log
       WHERE key IS NOT NULL OR type IN (SELECT value FROM json_each(?))`,
    )
    .raw();
  const index = new KeyIndex();
  let lastBlockId = 0;
  let loaded = false;
  let current = false;
  // (hash, seq) pairs to store with the next commit: keys read from a log without blocks, and
  // the keys this transaction appended.
  let unstored: number[] = [];
  let block: number[] = [];

  const ensureCurrent = () => {
    if (current) return;
    if (!loaded) {
      if (!anyBlock.get()) {
        for (const [seq, type, key, payload] of logKeys.iterate(JSON.stringify(DERIVED_KEY_TYPES)) as Iterable<[number, string, string | null, string]>) {
          unstored.push(index.add(type, key ?? derivedKeyOf(type, decodePayload(type, payload))!, seq, false), seq);
        }
      } else {
        index.reserve(index.size + (sizeAfter.get(lastBlockId) as number) / 16);
      }
      loaded = true;
    }
    for (const [id, entries] of blocksAfter.iterate(lastBlockId) as Iterable<[number, Buffer]>) {
      const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
      for (let at = 0; at < entries.byteLength; at += 16) {
        index.addHash(view.getFloat64(at, true), view.getFloat64(at + 8, true), false);
      }
      lastBlockId = id;
    }
    current = true;
  };

  return {
    ensureCurrent,
    load() {
      if (current) return;
      ensureCurrent();
      // Read outside the write lock: others may store keys before this process's next write.
      current = false;
    },
    find: (type, key, visit) => index.find(type, key, visit),
    added(type, key, seq) {
      block.push(index.add(type, key, seq, true), seq);
    },
    mark: () => ({ index: index.mark(), block: block.length }),
    rollbackTo(mark, outermost) {
      index.rollbackTo(mark.index);
      block.length = mark.block;
      if (outermost) current = false;
    },
    beforeCommit() {
      const pairs = unstored.length === 0 ? block : unstored.concat(block);
      if (pairs.length === 0) return;
      const entries = Buffer.allocUnsafe(pairs.length * 8);
      const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
      for (let i = 0; i < pairs.length; i++) view.setFloat64(i * 8, pairs[i], true);
      lastBlockId = Number(insertBlock.run(entries).lastInsertRowid);
    },
    committed() {
      index.commit();
      unstored = [];
      block = [];
      current = false;
    },
  };
}
