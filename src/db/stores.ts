import type Database from 'better-sqlite3';
import type { RouteStatsStore, SeriesStore } from '../functions/deps.js';
import type { BucketStats, PricePoint, RouteStats, SeriesState } from '../model/features.js';

interface SeriesRow {
  key: string;
  origin: string;
  destination: string;
  departure_date: string;
  currency: string;
  points: Buffer;
}

/** Packs points as Float64 pairs: compact, and far faster than JSON for long histories. */
export function encodePoints(points: readonly PricePoint[]): Buffer {
  const values = new Float64Array(points.length * 2);
  points.forEach((point, i) => {
    values[2 * i] = point.t;
    values[2 * i + 1] = point.p;
  });
  return Buffer.from(values.buffer);
}

export function decodePoints(buffer: Buffer): PricePoint[] {
  const values = new Float64Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 8);
  const points: PricePoint[] = new Array(values.length / 2);
  for (let i = 0; i < points.length; i++) points[i] = { t: values[2 * i], p: values[2 * i + 1] };
  return points;
}

const rowToSeries = (row: SeriesRow): SeriesState => ({
  key: row.key,
  origin: row.origin,
  destination: row.destination,
  departureDate: row.departure_date,
  currency: row.currency,
  points: decodePoints(row.points),
});

/** Series histories in SQLite. */
export function createSqliteSeriesStore(sqlite: Database.Database): SeriesStore {
  const getOne = sqlite.prepare('SELECT * FROM series WHERE key = ?');
  const upsert = sqlite.prepare(
    `INSERT INTO series (key, origin, destination, departure_date, currency, points, observations, last_observed_at)
     VALUES (@key, @origin, @destination, @departureDate, @currency, @points, @observations, @lastObservedAt)
     ON CONFLICT(key) DO UPDATE SET points = excluded.points, observations = excluded.observations,
       last_observed_at = excluded.last_observed_at, currency = excluded.currency`,
  );
  return {
    load(keys) {
      const states = new Map<string, SeriesState>();
      for (const key of keys) {
        const row = getOne.get(key) as SeriesRow | undefined;
        if (row) states.set(key, rowToSeries(row));
      }
      return states;
    },
    save(states) {
      for (const s of states) {
        upsert.run({
          key: s.key,
          origin: s.origin,
          destination: s.destination,
          departureDate: s.departureDate,
          currency: s.currency,
          points: encodePoints(s.points),
          observations: s.points.length,
          lastObservedAt: s.points.length > 0 ? s.points[s.points.length - 1].t : 0,
        });
      }
    },
    history(key) {
      const row = getOne.get(key) as SeriesRow | undefined;
      return row ? decodePoints(row.points) : undefined;
    },
  };
}

/** Route statistics in SQLite, as JSON: a handful of buckets per route. */
export function createSqliteRouteStatsStore(sqlite: Database.Database): RouteStatsStore {
  const getOne = sqlite.prepare('SELECT buckets FROM route_stats WHERE key = ?').pluck();
  const upsert = sqlite.prepare(
    'INSERT INTO route_stats (key, buckets) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET buckets = excluded.buckets',
  );
  // The last text read or written per route, parsed: both functions of an invocation load the
  // same routes, so most loads find the stored text unchanged and copy instead of parsing.
  const parsed = new Map<string, { text: string; buckets: BucketStats[] }>();
  const remember = (key: string, text: string, buckets: BucketStats[]) => {
    parsed.delete(key);
    parsed.set(key, { text, buckets: buckets.map((b) => ({ ...b })) });
    if (parsed.size > MAX_PARSED_ROUTES) parsed.delete(parsed.keys().next().value!);
  };
  return {
    load(keys) {
      const stats = new Map<string, RouteStats>();
      for (const key of keys) {
        const text = getOne.get(key) as string | undefined;
        if (text === undefined) continue;
        const known = parsed.get(key);
        let buckets: BucketStats[];
        if (known && known.text === text) {
          // Callers mutate what they load: hand out a copy, never the remembered buckets.
          buckets = known.buckets.map((b) => ({ ...b }));
        } else {
          buckets = JSON.parse(text) as BucketStats[];
          remember(key, text, buckets);
        }
        stats.set(key, { key, buckets });
      }
      return stats;
    },
    save(stats) {
      for (const s of stats) {
        const text = JSON.stringify(s.buckets);
        upsert.run(s.key, text);
        remember(s.key, text, s.buckets);
      }
    },
  };
}

/** Routes whose parsed statistics are remembered; a few hundred cover the shared data. */
const MAX_PARSED_ROUTES = 4096;
