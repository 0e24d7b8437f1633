import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { createSqliteRouteStatsStore } from '../../src/db/stores.js';
import { emptyRouteStats } from '../../src/model/features.js';
import { cleanupTemp, tempDbPath } from '../helpers/service.js';

const handles: DatabaseHandle[] = [];
afterEach(() => {
  for (const h of handles.splice(0)) h.close();
  cleanupTemp();
});

function open(path: string) {
  const handle = openDatabase({ path });
  handles.push(handle);
  return { sqlite: handle.sqlite, store: createSqliteRouteStatsStore(handle.sqlite) };
}

const KEY = 'BCN-BUD:EUR';

describe('route statistics in SQLite', () => {
  it('hands out copies: mutating what was loaded or saved changes no later load', () => {
    const { store } = open(tempDbPath());
    const stats = emptyRouteStats(KEY);
    stats.buckets[2].n = 7;
    store.save([stats]);
    stats.buckets[2].n = 99;
    const first = store.load([KEY]).get(KEY)!;
    expect(first.buckets[2].n).toBe(7);
    first.buckets[2].n = 1234;
    first.buckets[0].routeDrops = 0.9;
    const second = store.load([KEY]).get(KEY)!;
    expect(second.buckets[2].n).toBe(7);
    expect(second.buckets[0].routeDrops).toBeUndefined();
  });

  it('reads what another connection wrote, and never a save that rolled back', () => {
    const path = tempDbPath();
    const { sqlite, store } = open(path);
    const stats = emptyRouteStats(KEY);
    stats.buckets[1].n = 3;
    store.save([stats]);
    expect(store.load([KEY]).get(KEY)!.buckets[1].n).toBe(3);

    const other = new Database(path);
    const changed = emptyRouteStats(KEY);
    changed.buckets[1].n = 42;
    other.prepare('UPDATE route_stats SET buckets = ? WHERE key = ?').run(JSON.stringify(changed.buckets), KEY);
    other.close();
    expect(store.load([KEY]).get(KEY)!.buckets[1].n).toBe(42);

    expect(() =>
      sqlite.transaction(() => {
        const next = emptyRouteStats(KEY);
        next.buckets[1].n = 500;
        store.save([next]);
        throw new Error('abort');
      })(),
    ).toThrow('abort');
    expect(store.load([KEY]).get(KEY)!.buckets[1].n).toBe(42);
  });
});
