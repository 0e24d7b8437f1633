import type Database from 'better-sqlite3';
import { outlookPricesOfCurve } from '../forecast/outlook.js';
import { packFloats, unpackFloats } from './packed.js';
import { rowCachesOf } from './row-cache.js';
import type {
  DepartureSummary,
  ForecastStore,
  ForecastSummary,
  Recommendation,
  RouteSummary,
  ForecastCore,
} from '../forecast/types.js';

interface SummaryRow {
  as_of: number;
  recommendation: Recommendation;
  expected_lowest_price: number;
  model_version: string;
}

interface ReadRow {
  payload: string;
  outlook: Buffer;
  outlook_curve: Buffer | null;
  as_of: number;
  revision: number;
  observations: number | null;
  points: Buffer | null;
}

interface RouteRow {
  origin: string;
  destination: string;
  currency: string;
  series: number;
  observations: number;
  forecasts: number;
  latest: number;
  first_departure: string;
  last_departure: string;
}

interface DepartureRow {
  key: string;
  departure_date: string;
  currency: string;
  observations: number;
  last_observed_at: number;
  points: Buffer;
  payload: string | null;
}

/** The last price of packed (epoch ms, price) Float64 pairs, without decoding them all. */
function lastPrice(points: Buffer): number {
  return points.byteLength >= 16 ? points.readDoubleLE(points.byteLength - 8) : Number.NaN;
}

/** Forecast summaries kept in memory per connection: about 150 bytes each. */
export const SUMMARY_CACHE_ENTRIES = 50_000;

/**
 * The latest forecast of each series in SQLite, with prepared statements: the read
 * path is one indexed lookup that returns the stored JSON and the series' prices.
 */
export function createSqliteForecastStore(sqlite: Database.Database): ForecastStore {
  const summary = sqlite.prepare(
    'SELECT as_of, recommendation, expected_lowest_price, model_version FROM forecasts WHERE series = ?',
  );
  // A late event (older asOf) never replaces a newer forecast, whatever the caller checked before.
  const upsert = sqlite.prepare(
    `INSERT INTO forecasts (series, origin, destination, departure_date, as_of, recommendation,
       probability_cheaper_later, expected_lowest_price, payload, outlook, outlook_curve, model_version)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, x'', ?, ?)
     ON CONFLICT(series) DO UPDATE SET as_of = excluded.as_of, recommendation = excluded.recommendation,
       probability_cheaper_later = excluded.probability_cheaper_later,
       expected_lowest_price = excluded.expected_lowest_price, payload = excluded.payload,
       outlook = excluded.outlook, outlook_curve = excluded.outlook_curve, model_version = excluded.model_version, revision = forecasts.revision + 1
     WHERE excluded.as_of >= forecasts.as_of`,
  );
  const readOne = sqlite.prepare(
    `SELECT f.payload, f.outlook, f.outlook_curve, f.as_of, f.revision, s.observations, s.points
     FROM forecasts f LEFT JOIN series s ON s.key = f.series WHERE f.series = ?`,
  );
  const stampOne = sqlite.prepare(
    'SELECT f.revision, s.observations FROM forecasts f LEFT JOIN series s ON s.key = f.series WHERE f.series = ?',
  );
  // What tells whether a stamp can have changed, without reading one. PRAGMA data_version changes
  // when another connection (or process) commits; total_changes() counts the rows this connection
  // itself has inserted, updated or deleted, whichever store wrote them: forecasts here, series in
  // extract-features. Rows a rolled-back transaction wrote stay counted, so a rollback only makes
  // readers check again. Neither reads a table; total_changes() does not even start a read.
  const totalChanges = sqlite.prepare('SELECT total_changes()').pluck();
  // data_version opens a read of the WAL index, whose shared-memory locks cost several µs under
  // load (about a tenth of a cached read), so reads take it once per turn of the event loop:
  // another process's commit is seen from the next turn on, this connection's writes at once.
  const caches = rowCachesOf(sqlite);
  // The summaries predict reads for every series it forecasts, as committed (see RowCaches).
  const summaryCache = caches.create<ForecastSummary>(SUMMARY_CACHE_ENTRIES);
  let seenVersion = Number.NaN;
  let seenChanges = Number.NaN;
  let generation = 0;
  const routes = sqlite.prepare(
    `SELECT s.origin, s.destination, s.currency, count(*) AS series, sum(s.observations) AS observations,
       count(f.series) AS forecasts, max(s.last_observed_at) AS latest,
       min(s.departure_date) AS first_departure, max(s.departure_date) AS last_departure
     FROM series s LEFT JOIN forecasts f ON f.series = s.key
     GROUP BY s.origin, s.destination, s.currency
     ORDER BY s.origin, s.destination, s.currency`,
  );
  const departures = sqlite.prepare(
    `SELECT s.key, s.departure_date, s.currency, s.observations, s.last_observed_at, s.points, f.payload
     FROM series s LEFT JOIN forecasts f ON f.series = s.key
     WHERE s.origin = @origin AND s.destination = @destination
       AND s.departure_date >= @from AND s.departure_date <= @to
     ORDER BY s.departure_date, s.currency
     LIMIT @limit`,
  );

  return {
    summaries(keys) {
      const out = new Map<string, ForecastSummary>();
      for (const key of keys) {
        const brief = summaryCache.getOrRead(key, () => {
          const row = summary.get(key) as SummaryRow | undefined;
          return (
            row && {
              asOfMs: row.as_of,
              recommendation: row.recommendation,
              expectedLowestPrice: row.expected_lowest_price,
              modelVersion: row.model_version,
            }
          );
        });
        if (brief) out.set(key, brief);
      }
      return out;
    },
    save(records) {
      for (const { series, asOfMs, core: forecast, outlookCurve } of records) {
        // Positional, in the order of the statement's columns.
        const info = upsert.run(
          series,
          forecast.origin,
          forecast.destination,
          forecast.departureDate,
          asOfMs,
          forecast.recommendation,
          forecast.probabilityCheaperLater,
          forecast.expectedLowestPrice,
          JSON.stringify(forecast),
          packFloats(outlookCurve),
          forecast.model.version,
        );
        // No change: a newer forecast is stored, and whatever is cached of it still holds.
        if (info.changes > 0) {
          summaryCache.put(series, {
            asOfMs,
            recommendation: forecast.recommendation,
            expectedLowestPrice: forecast.expectedLowestPrice,
            modelVersion: forecast.model.version,
          });
        }
      }
    },
    read(series) {
      const row = readOne.get(series) as ReadRow | undefined;
      if (!row) return undefined;
      return {
        coreJson: row.payload,
        // Forecasts stored before the curve hold their outlook's prices.
        outlookPrices: row.outlook_curve ? outlookPricesOfCurve(unpackFloats(row.outlook_curve)) : unpackFloats(row.outlook),
        asOfMs: row.as_of,
        revision: row.revision,
        observations: row.observations ?? 0,
        points: row.points ? unpackFloats(row.points) : new Float64Array(0),
      };
    },
    stamp(series) {
      const row = stampOne.get(series) as { revision: number; observations: number | null } | undefined;
      return row ? { revision: row.revision, observations: row.observations ?? 0 } : undefined;
    },
    generation() {
      if (sqlite.inTransaction) return undefined;
      const version = caches.dataVersionOfTurn();
      const changes = totalChanges.get() as number;
      if (version !== seenVersion || changes !== seenChanges) {
        seenVersion = version;
        seenChanges = changes;
        generation++;
      }
      return generation;
    },
    routes() {
      return (routes.all() as RouteRow[]).map(
        (r): RouteSummary => ({
          origin: r.origin,
          destination: r.destination,
          currency: r.currency,
          series: r.series,
          observations: r.observations,
          forecasts: r.forecasts,
          latestObservedAt: new Date(r.latest).toISOString(),
          firstDepartureDate: r.first_departure,
          lastDepartureDate: r.last_departure,
        }),
      );
    },
    departures({ origin, destination, from, to, limit }) {
      const rows = departures.all({ origin, destination, from: from ?? '0000-01-01', to: to ?? '9999-12-31', limit }) as DepartureRow[];
      return rows.map((r): DepartureSummary => {
        const forecast = r.payload ? (JSON.parse(r.payload) as ForecastCore) : undefined;
        return {
          departureDate: r.departure_date,
          series: r.key,
          currency: r.currency,
          observations: r.observations,
          lastObservedAt: new Date(r.last_observed_at).toISOString(),
          latestPrice: lastPrice(r.points),
          forecast: forecast
            ? {
                asOf: forecast.asOf,
                recommendation: forecast.recommendation,
                confidence: forecast.confidence,
                probabilityCheaperLater: forecast.probabilityCheaperLater,
                expectedLowestPrice: forecast.expectedLowestPrice,
                priceLevel: forecast.priceLevel,
                modelVersion: forecast.model.version,
              }
            : null,
        };
      });
    },
  };
}
