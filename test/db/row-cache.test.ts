import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { rowCachesOf } from '../../src/db/row-cache.js';
import { createSqliteRouteStatsStore, createSqliteSeriesStore, encodeBuckets } from '../../src/db/stores.js';
import { emptyRouteStats, pointList } from '../../src/model/features.js';
import { cleanupTemp, nextTurn, openTestDatabase, seriesState, tempDbPath } from '../helpers/index.js';

const others: Database.Database[] = [];
afterEach(() => {
  for (const db of others.splice(0)) db.close();
  cleanupTemp();
});

function open(path = tempDbPath()) {
  const handle = openTestDatabase(path);
  handle.sqlite.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
  const caches = rowCachesOf(handle.sqlite);
  const cache = caches.create<string>(100);
  const write = (k: string, v: string) => {
    handle.sqlite.prepare('INSERT INTO kv VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v').run(k, v);
    cache.put(k, v);
  };
  return { sqlite: handle.sqlite, caches, cache, write, path };
}

function other(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  others.push(db);
  return db;
}

describe('row caches', () => {
  it('serve what a committed transaction put, inside and outside later transactions', () => {
    const { caches, cache, write } = open();
    expect(cache.get('a')).toBeUndefined();
    caches.transaction(() => {
      write('a', '1');
      // Inside the transaction its own puts are visible.
      expect(cache.get('a')).toBe('1');
    });
    expect(cache.get('a')).toBe('1');
    caches.transaction(() => expect(cache.get('a')).toBe('1'));
    expect(cache.size).toBe(1);
  });

  it('read through: a value read inside a committed transaction is served without reading again', () => {
    const { sqlite, caches, cache } = open();
    sqlite.prepare('INSERT INTO kv VALUES (?, ?)').run('a', '1');
    let reads = 0;
    const read = () => {
      reads++;
      return sqlite.prepare('SELECT v FROM kv WHERE k = ?').pluck().get('a') as string | undefined;
    };
    // Outside a transaction nothing read is kept.
    expect(cache.getOrRead('a', read)).toBe('1');
    expect(cache.getOrRead('a', read)).toBe('1');
    expect(reads).toBe(2);
    caches.transaction(() => expect(cache.getOrRead('a', read)).toBe('1'));
    expect(reads).toBe(3);
    expect(cache.getOrRead('a', read)).toBe('1');
    expect(reads).toBe(3);
    // A key with no row is not put.
    caches.transaction(() => expect(cache.getOrRead('missing', () => undefined)).toBeUndefined());
    expect(cache.size).toBe(1);
  });

  it('forget what a transaction that rolled back put', () => {
    const { caches, cache, write } = open();
    caches.transaction(() => write('a', '1'));
    expect(() =>
      caches.transaction(() => {
        write('a', '2');
        throw new Error('roll back');
      }),
    ).toThrow('roll back');
    // The rolled-back write moved total_changes(): nothing is trusted until the next commit.
    expect(cache.get('a')).toBeUndefined();
    caches.transaction(() => expect(cache.get('a')).toBeUndefined());
  });

  it('drop everything when a savepoint rolls back inside a transaction that commits', () => {
    const { sqlite, caches, cache, write } = open();
    caches.transaction(() => write('a', '1'));
    caches.transaction(() => {
      write('b', '1');
      expect(() =>
        caches.transaction(() => {
          write('a', '2');
          throw new Error('undo the savepoint');
        }),
      ).toThrow('undo the savepoint');
      expect(cache.get('a')).toBeUndefined();
      write('c', '1');
    });
    expect(sqlite.prepare('SELECT v FROM kv WHERE k = ?').pluck().get('a')).toBe('1');
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([undefined, undefined, '1']);
  });

  it('run nested transactions as savepoints, each its own function and result, a failed one undone alone', () => {
    const { sqlite, caches, write } = open();
    const value = (k: string) => sqlite.prepare('SELECT v FROM kv WHERE k = ?').pluck().get(k);
    const result = caches.transaction(() => {
      write('outer', '1');
      const inner = caches.transaction(() => {
        write('inner', '1');
        expect(() =>
          caches.transaction(() => {
            write('innermost', '1');
            throw new Error('undo the innermost');
          }),
        ).toThrow('undo the innermost');
        return caches.transaction(() => {
          write('sibling', '1');
          return 'sibling result';
        });
      });
      write('after', '1');
      return `${inner}, outer result`;
    });
    expect(result).toBe('sibling result, outer result');
    expect(['outer', 'inner', 'innermost', 'sibling', 'after'].map(value)).toEqual(['1', '1', undefined, '1', '1']);
    expect(sqlite.inTransaction).toBe(false);
    // The next transaction runs its own function, not one left over from before.
    expect(caches.transaction(() => 'next')).toBe('next');
  });

  it('are not trusted after a write of this connection outside their transactions', () => {
    const { sqlite, caches, cache, write } = open();
    caches.transaction(() => write('a', '1'));
    sqlite.prepare("UPDATE kv SET v = 'direct' WHERE k = 'a'").run();
    expect(cache.get('a')).toBeUndefined();
    caches.transaction(() => expect(cache.get('a')).toBeUndefined());
  });

  it('see another connection’s commit at the start of the next write transaction, and in the next turn outside one', async () => {
    const { caches, cache, write, path } = open();
    caches.transaction(() => write('a', '1'));
    expect(cache.get('a')).toBe('1');
    other(path).prepare("UPDATE kv SET v = 'other' WHERE k = 'a'").run();
    // A transaction reads data_version after taking the write lock: never a stale row to update.
    caches.transaction(() => expect(cache.get('a')).toBeUndefined());

    caches.transaction(() => write('a', '3'));
    expect(cache.get('a')).toBe('3');
    other(path).prepare("UPDATE kv SET v = 'other again' WHERE k = 'a'").run();
    await nextTurn();
    expect(cache.get('a')).toBeUndefined();
  });

  it('keep at most their number of rows, least recently used out first', () => {
    const { sqlite } = open();
    const caches = rowCachesOf(sqlite);
    const small = caches.create<number>(2);
    caches.transaction(() => {
      small.put('a', 1);
      small.put('b', 2);
    });
    expect(small.get('a')).toBe(1);
    caches.transaction(() => small.put('c', 3));
    expect([small.get('a'), small.get('b'), small.get('c')]).toEqual([1, undefined, 3]);
  });
});

describe('the stores on row caches', () => {
  it('hand out fresh objects: mutating a loaded series or route changes no later load', () => {
    const { sqlite, caches } = open();
    const seriesStore = createSqliteSeriesStore(sqlite);
    const routeStore = createSqliteRouteStatsStore(sqlite);
    const stats = emptyRouteStats('BCN-BUD:EUR');
    stats.buckets[1].n = 3;
    caches.transaction(() => {
      seriesStore.save([seriesState([70, 65])]);
      routeStore.save([stats]);
    });
    const loaded = seriesStore.load(['BCN-BUD-2016-04-20']).get('BCN-BUD-2016-04-20')!;
    loaded.points.values[1] = 1;
    loaded.points.length = 1;
    const route = routeStore.load(['BCN-BUD:EUR']).get('BCN-BUD:EUR')!;
    route.buckets[1].n = 99;
    const again = seriesStore.load(['BCN-BUD-2016-04-20']).get('BCN-BUD-2016-04-20')!;
    expect({ ...again, points: pointList(again.points) }).toEqual({ ...seriesState([70, 65]), points: pointList(seriesState([70, 65]).points) });
    expect(routeStore.load(['BCN-BUD:EUR']).get('BCN-BUD:EUR')!.buckets[1].n).toBe(3);
  });

  it('load what another process wrote once it committed, never the cached rows', async () => {
    const { sqlite, caches, path } = open();
    const seriesStore = createSqliteSeriesStore(sqlite);
    const routeStore = createSqliteRouteStatsStore(sqlite);
    caches.transaction(() => {
      seriesStore.save([seriesState([70])]);
      routeStore.save([emptyRouteStats('BCN-BUD:EUR')]);
    });
    const db = other(path);
    createSqliteSeriesStore(db).save([seriesState([70, 40])]);
    const changed = emptyRouteStats('BCN-BUD:EUR');
    changed.buckets[2].n = 42;
    db.prepare('UPDATE route_stats SET packed = ? WHERE key = ?').run(encodeBuckets(changed.buckets), 'BCN-BUD:EUR');
    caches.transaction(() => {
      expect(pointList(seriesStore.load(['BCN-BUD-2016-04-20']).get('BCN-BUD-2016-04-20')!.points).map((p) => p.p)).toEqual([70, 40]);
      expect(routeStore.load(['BCN-BUD:EUR']).get('BCN-BUD:EUR')!.buckets[2].n).toBe(42);
    });
    await nextTurn();
    expect(seriesStore.history('BCN-BUD-2016-04-20')!.map((p) => p.p)).toEqual([70, 40]);
  });
});
