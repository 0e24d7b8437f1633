import type Database from 'better-sqlite3';
import type { RouteStatsStore, SeriesStore } from '../functions/deps.js';
import {
  packedPairs,
  pointList,
  pricePointsOf,
  type BucketStats,
  type PricePoints,
  type RouteStats,
  type SeriesState,
} from '../model/features.js';
import { unpackFloats } from './packed.js';
import { rowCachesOf } from './row-cache.js';

interface SeriesRow {
  key: string;
  origin: string;
  destination: string;
  departure_date: string;
  currency: string;
  points: Buffer;
}

/** Packs points as Float64 pairs, as they are held: a copy of their bytes, which the row cache may keep. */
export function encodePoints(points: PricePoints): Buffer {
  const pairs = packedPairs(points);
  return Buffer.from(new Uint8Array(pairs.buffer, pairs.byteOffset, pairs.byteLength));
}

/** The stored points, in arrays of their own (with room to grow), which callers may mutate. */
export function decodePoints(buffer: Buffer): PricePoints {
  return pricePointsOf(unpackFloats(buffer));
}

const rowToSeries = (row: SeriesRow): SeriesState => ({
  key: row.key,
  origin: row.origin,
  destination: row.destination,
  departureDate: row.departure_date,
  currency: row.currency,
  points: decodePoints(row.points),
});

/** Series kept in memory per connection (see RowCaches): about 1 KB each for 60 observations. */
export const SERIES_CACHE_ENTRIES = 20_000;
/** Routes kept in memory per connection: about 900 bytes each. */
export const ROUTE_CACHE_ENTRIES = 4096;

/**
 * Series histories in SQLite. The rows this connection committed are also kept in memory, as
 * stored (points packed), so the load that precedes every save skips the query; every load
 * decodes fresh objects, which callers may mutate.
 */
export function createSqliteSeriesStore(sqlite: Database.Database): SeriesStore {
  const getOne = sqlite.prepare('SELECT key, origin, destination, departure_date, currency, points FROM series WHERE key = ?');
  const upsert = sqlite.prepare(
    `INSERT INTO series (key, origin, destination, departure_date, currency, points, observations, last_observed_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET points = excluded.points, observations = excluded.observations,
       last_observed_at = excluded.last_observed_at, currency = excluded.currency`,
  );
  const cache = rowCachesOf(sqlite).create<SeriesRow>(SERIES_CACHE_ENTRIES);
  const row = (key: string) => cache.getOrRead(key, () => getOne.get(key) as SeriesRow | undefined);
  return {
    load(keys) {
      const states = new Map<string, SeriesState>();
      for (const key of keys) {
        const stored = row(key);
        if (stored) states.set(key, rowToSeries(stored));
      }
      return states;
    },
    save(states) {
      // Positional parameters: binding by name costs a lookup per parameter and row.
      for (const s of states) {
        const points = encodePoints(s.points);
        upsert.run(
          s.key,
          s.origin,
          s.destination,
          s.departureDate,
          s.currency,
          points,
          s.points.length,
          s.points.length > 0 ? s.points.values[2 * (s.points.length - 1)] : 0,
        );
        cache.put(s.key, {
          key: s.key,
          origin: s.origin,
          destination: s.destination,
          departure_date: s.departureDate,
          currency: s.currency,
          points,
        });
      }
    },
    history(key) {
      const stored = row(key);
      return stored ? pointList(decodePoints(stored.points)) : undefined;
    },
  };
}

/**
 * Fields per packed bucket: n, mean, m2, min, moves, drops, recent, recentDrops, routeDrops,
 * routeDropsSlow, routeRises, in this order. New fields go at the end: a packed value records
 * its width, so values written with fewer fields still decode (the missing ones absent).
 */
const BUCKET_WIDTH = 11;

/**
 * Packs buckets as Float64s: the width, then each bucket's fields, NaN for an absent optional
 * field. A route's statistics are read and written for every event, and this is several times
 * cheaper than JSON both ways.
 */
export function encodeBuckets(buckets: readonly BucketStats[]): Buffer {
  const values = new Float64Array(1 + buckets.length * BUCKET_WIDTH);
  values[0] = BUCKET_WIDTH;
  const nan = Number.NaN;
  for (let b = 0; b < buckets.length; b++) {
    const bucket = buckets[b];
    const at = 1 + b * BUCKET_WIDTH;
    values[at] = bucket.n;
    values[at + 1] = bucket.mean;
    values[at + 2] = bucket.m2;
    values[at + 3] = bucket.min ?? nan;
    values[at + 4] = bucket.moves ?? nan;
    values[at + 5] = bucket.drops ?? nan;
    values[at + 6] = bucket.recent ?? nan;
    values[at + 7] = bucket.recentDrops ?? nan;
    values[at + 8] = bucket.routeDrops ?? nan;
    values[at + 9] = bucket.routeDropsSlow ?? nan;
    values[at + 10] = bucket.routeRises ?? nan;
  }
  return Buffer.from(values.buffer);
}

/** The buckets {@link encodeBuckets} packed. */
export function decodeBuckets(packed: Buffer): BucketStats[] {
  const values = unpackFloats(packed);
  const width = values[0];
  const field = (at: number, f: number) => (f < width && !Number.isNaN(values[at + f]) ? values[at + f] : undefined);
  const buckets: BucketStats[] = new Array((values.length - 1) / width);
  for (let b = 0; b < buckets.length; b++) {
    const at = 1 + b * width;
    // One literal with every field, so all buckets share one object shape: absent fields are undefined.
    buckets[b] = {
      n: values[at],
      mean: values[at + 1],
      m2: values[at + 2],
      min: field(at, 3),
      moves: field(at, 4),
      drops: field(at, 5),
      recent: field(at, 6),
      recentDrops: field(at, 7),
      routeDrops: field(at, 8),
      routeDropsSlow: field(at, 9),
      routeRises: field(at, 10),
    };
  }
  return buckets;
}

interface RouteStatsRow {
  packed: Buffer | null;
  buckets: string | null;
}

/**
 * Route statistics in SQLite, packed: a handful of buckets per route. As with series, the
 * committed rows are kept in memory as stored, and every load decodes fresh objects.
 */
export function createSqliteRouteStatsStore(sqlite: Database.Database): RouteStatsStore {
  const getOne = sqlite.prepare('SELECT packed, buckets FROM route_stats WHERE key = ?');
  const upsert = sqlite.prepare(
    `INSERT INTO route_stats (key, buckets, packed) VALUES (?, NULL, ?)
     ON CONFLICT(key) DO UPDATE SET buckets = NULL, packed = excluded.packed`,
  );
  const cache = rowCachesOf(sqlite).create<RouteStatsRow>(ROUTE_CACHE_ENTRIES);
  return {
    load(keys) {
      const stats = new Map<string, RouteStats>();
      for (const key of keys) {
        const row = cache.getOrRead(key, () => getOne.get(key) as RouteStatsRow | undefined);
        if (!row) continue;
        // Rows written before packing hold JSON until their next write.
        const buckets = row.packed ? decodeBuckets(row.packed) : (JSON.parse(row.buckets ?? '[]') as BucketStats[]);
        stats.set(key, { key, buckets });
      }
      return stats;
    },
    save(stats) {
      for (const s of stats) {
        const packed = encodeBuckets(s.buckets);
        upsert.run(s.key, packed);
        cache.put(s.key, { packed, buckets: null });
      }
    },
  };
}
