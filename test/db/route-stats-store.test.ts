import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteRouteStatsStore, decodeBuckets, encodeBuckets } from '../../src/db/stores.js';
import { emptyRouteStats, type BucketStats } from '../../src/model/features.js';
import { cleanupTemp, openTestDatabase, tempDbPath } from '../helpers/service.js';

afterEach(cleanupTemp);

function open(path: string) {
  const handle = openTestDatabase(path);
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
    other.prepare('UPDATE route_stats SET packed = ? WHERE key = ?').run(encodeBuckets(changed.buckets), KEY);
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

  it('keeps every field as it was, optional fields absent where they were', () => {
    const { store } = open(tempDbPath());
    const stats = emptyRouteStats(KEY);
    stats.buckets[0] = { n: 12, mean: 4.53, m2: 3.2e-7, min: 4.09, moves: 11, drops: 2, recent: 4.98, recentDrops: 2.1e-9, routeDrops: 4.6e-70, routeDropsSlow: 0.25, routeRises: 0.75 };
    stats.buckets[3] = { n: 1, mean: -0.5, m2: 0 };
    store.save([stats]);
    expect(store.load([KEY]).get(KEY)).toEqual(stats);
    expect(store.load([KEY]).get(KEY)!.buckets[3].min).toBeUndefined();
  });

  it('reads statistics stored as JSON before packing, and packs them at their next save', () => {
    const { sqlite, store } = open(tempDbPath());
    const stats = emptyRouteStats(KEY);
    stats.buckets[4] = { n: 5, mean: 3.9, m2: 0.4, min: 3.1, moves: 4, drops: 1, recent: 3.8 };
    sqlite.prepare('INSERT INTO route_stats (key, buckets) VALUES (?, ?)').run(KEY, JSON.stringify(stats.buckets));
    const loaded = store.load([KEY]).get(KEY)!;
    expect(loaded).toEqual(stats);
    loaded.buckets[4].n = 6;
    store.save([loaded]);
    const row = sqlite.prepare('SELECT buckets, packed FROM route_stats WHERE key = ?').get(KEY) as { buckets: string | null; packed: Buffer };
    expect(row.buckets).toBeNull();
    expect(decodeBuckets(row.packed)[4].n).toBe(6);
  });

  it('decodes a value packed with fewer fields per bucket, the later fields absent', () => {
    // Two buckets of an older, 3-field layout: n, mean, m2.
    const packed = Buffer.from(new Float64Array([3, 2, 4.5, 0.1, 7, 4.25, 0.3]).buffer);
    const buckets: BucketStats[] = decodeBuckets(packed);
    expect(buckets).toEqual([
      { n: 2, mean: 4.5, m2: 0.1 },
      { n: 7, mean: 4.25, m2: 0.3 },
    ]);
  });
});
