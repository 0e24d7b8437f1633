import { statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKSTOP_AUTOCHECKPOINT_PAGES, startWalCheckpoints } from '../../src/db/checkpoints.js';
import { cleanupTemp, closeServices, makeService, openTestDatabase, tempDbPath } from '../helpers/index.js';

afterEach(async () => {
  await closeServices();
  cleanupTemp();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function scratch() {
  const path = tempDbPath();
  const handle = openTestDatabase(path);
  handle.sqlite.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, v BLOB NOT NULL)');
  const insert = handle.sqlite.prepare('INSERT OR REPLACE INTO blobs (id, v) VALUES (?, ?)');
  /** Commits `n` transactions of 64 KB each, yielding to the timers in between, as a busy service does. */
  const writeFor = async (n: number) => {
    for (let i = 0; i < n; i++) {
      handle.sqlite.transaction(() => insert.run(i % 50, Buffer.alloc(64 * 1024, i % 251)))();
      await sleep(2);
    }
  };
  const walBytes = () => statSync(`${path}-wal`).size;
  return { sqlite: handle.sqlite, writeFor, walBytes };
}

describe('WAL checkpoints between transactions', () => {
  it('keep the WAL small, below SQLite’s automatic checkpoints', async () => {
    const off = scratch();
    off.sqlite.pragma('wal_autocheckpoint = 0');
    await off.writeFor(120);
    // Nothing checkpoints: every transaction stays in the WAL (120 × 64 KB and more).
    expect(off.walBytes()).toBeGreaterThan(7 * 1024 * 1024);

    const on = scratch();
    const checkpoints = startWalCheckpoints(on.sqlite, 10);
    expect(on.sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(BACKSTOP_AUTOCHECKPOINT_PAGES);
    await on.writeFor(120);
    expect(checkpoints.count).toBeGreaterThan(5);
    // A checkpoint that copied everything lets the next writer start the WAL again from its beginning.
    expect(on.walBytes()).toBeLessThan(3 * 1024 * 1024);
    checkpoints.stop();
    expect(on.sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('do nothing while the connection writes nothing, and stop when told', async () => {
    const db = scratch();
    const checkpoints = startWalCheckpoints(db.sqlite, 5);
    await db.writeFor(3);
    await sleep(30);
    const afterWrites = checkpoints.count;
    expect(afterWrites).toBeGreaterThan(0);
    await sleep(40);
    expect(checkpoints.count).toBe(afterWrites);
    checkpoints.stop();
    await db.writeFor(5);
    await sleep(30);
    expect(checkpoints.count).toBe(afterWrites);
  });

  it('run for a service on a database file, and not for one in memory', async () => {
    expect(makeService().checkpoints).toBeUndefined();
    const service = makeService({ dbPath: tempDbPath() });
    expect(service.checkpoints).toBeDefined();
    expect(service.database.sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(BACKSTOP_AUTOCHECKPOINT_PAGES);
  });
});
