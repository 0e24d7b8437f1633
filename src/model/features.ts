import {
  daysFromTo,
  dayStartMs,
  routeKeyOf,
  seriesKeyOf,
  type FareEvent,
} from '../events/fare-event.js';

/**
 * The feature module: the one place that turns a series' history into a model input.
 * The extract-features function and training both call {@link observe}, so serving
 * and training features cannot drift apart. Everything is relative to the current
 * price or to the route's typical price: the data spans several currencies.
 */

/** Bumped whenever the vector's meaning changes; saved with every model. */
export const FEATURE_VERSION = 4;

/** Upper bounds (inclusive) of the days-before buckets used for route statistics. */
export const DAYS_BEFORE_BUCKETS = [1, 3, 7, 14, 21, 30, 45, 60, 90, Infinity] as const;

/** The names of the feature vector's entries, in order. */
export const FEATURE_NAMES = [
  'days_before_log',
  'days_before_scaled',
  ...[0, 1, 2, 3, 4, 5, 6].map((d) => `departure_dow_${d}`),
  'price_vs_first',
  'price_vs_min',
  'price_vs_max',
  'price_vs_mean',
  'change_last',
  'change_prev',
  'change_prev2',
  'days_since_change_log',
  'observations_log',
  'series_drops_log',
  'price_vs_route_typical',
  'route_bucket_known',
  'route_bucket_spread',
  'route_trend_next_bucket',
  'route_trend_to_departure',
  'price_vs_route_min',
  'price_vs_route_min_ahead',
  'price_vs_bucket_min',
  ...DAYS_BEFORE_BUCKETS.map((_, b) => `price_z_bucket_${b}`),
  'route_drop_rate_here',
  'route_drop_rate_ahead',
  'price_vs_route_recent',
  'route_recent_vs_typical',
  'route_recent_drop_rate',
  'route_wide_drop_rate',
  'route_wide_drop_rate_slow',
  'route_wide_rise_rate',
] as const;

export const FEATURE_COUNT = FEATURE_NAMES.length;

const DAY_MS = 86_400_000;
const MIN_BUCKET_COUNT = 5;
// Weight of the newest observation in a bucket's recent level: about the last ten count.
const RECENT_WEIGHT = 0.1;
// Weights of the newest move in the route-wide rates of drops and rises: about the last 100
// moves (a day of a route's departures, each observed daily) and the last 500 (a few days).
const ROUTE_WEIGHT = 0.01;
const ROUTE_WEIGHT_SLOW = 0.002;
// z for the 25th/75th percentiles of a normal: the typical range is the middle half.
const Z_QUARTILE = 0.6745;

/** One observed price of a series. `t` is epoch ms of observedAt. */
export interface PricePoint {
  t: number;
  p: number;
}

/**
 * A series' observed prices in time order, packed as (t, p) pairs of Float64s, the form they
 * are stored in: point i is `values[2i]` (epoch ms of observedAt) and `values[2i + 1]` (the
 * price). `values` may hold room for more points than `length`. One typed array instead of an
 * object per point: a series is loaded, extended and saved for every event ingested.
 */
export interface PricePoints {
  values: Float64Array;
  length: number;
}

/** Points from packed (t, p) pairs (copied), with room for `spare` more. */
export function pricePointsOf(pairs: ArrayLike<number>, spare = 4): PricePoints {
  const length = Math.floor(pairs.length / 2);
  const values = new Float64Array(2 * (length + Math.max(1, spare)));
  values.set(pairs);
  return { values, length };
}

/** The held points as packed (t, p) pairs, without the spare room (a view: copy it to keep it). */
export function packedPairs(points: PricePoints): Float64Array {
  return points.values.subarray(0, points.length * 2);
}

/** The points as objects, for code that is not on a per-event path (tests, tools). */
export function pointList(points: PricePoints): PricePoint[] {
  const out: PricePoint[] = new Array(points.length);
  for (let i = 0; i < points.length; i++) out[i] = { t: points.values[2 * i], p: points.values[2 * i + 1] };
  return out;
}

/** The state of one series (route + departure date): its observed prices in time order. */
export interface SeriesState {
  key: string;
  origin: string;
  destination: string;
  departureDate: string;
  currency: string;
  points: PricePoints;
}

/**
 * Running statistics of log price for one days-before bucket (Welford), plus the
 * lowest log price and how often a series' price moved from one observation to the
 * next in this bucket, and how often that move was down. Fields added after version 1
 * are optional: stored statistics from before simply lack them.
 */
export interface BucketStats {
  n: number;
  mean: number;
  m2: number;
  /** Lowest log price seen; meaningful when n > 0. */
  min?: number;
  /** Observations that followed an earlier one of the same series. */
  moves?: number;
  /** Of those, the ones priced strictly below the previous observation. */
  drops?: number;
  /** Exponentially weighted mean log price of the latest observations: the route's current level. */
  recent?: number;
  /** Exponentially weighted share of the latest moves that were drops: a sale in progress. */
  recentDrops?: number;
  /**
   * Route-wide (the moves of every bucket) exponentially weighted shares of the latest
   * moves that were drops (about the last 100 and 500) and rises (about the last 100).
   * Kept on the first bucket only: a route's statistics are stored as their buckets.
   */
  routeDrops?: number;
  routeDropsSlow?: number;
  routeRises?: number;
}

/** Per-route, per-currency statistics of log price by days-before bucket. */
export interface RouteStats {
  key: string;
  buckets: BucketStats[];
}

/** The features of one observation, computed from what was known at its observedAt. */
export interface FeatureRow {
  series: string;
  route: string;
  observedAt: string;
  daysBefore: number;
  price: number;
  currency: string;
  vector: number[];
  /** The route's typical price range for this many days before departure, when known. */
  typicalRange: { low: number; high: number } | null;
}

/** A fresh, empty series for the event's route and departure date. */
export function emptySeries(event: FareEvent): SeriesState {
  return {
    key: seriesKeyOf(event),
    origin: event.origin,
    destination: event.destination,
    departureDate: event.departureDate,
    currency: event.currency,
    points: pricePointsOf([], 8),
  };
}

/** Route statistics are kept per currency too, so prices are never mixed across currencies. */
export function routeStatsKeyOf(event: Pick<FareEvent, 'origin' | 'destination' | 'currency'>): string {
  return `${routeKeyOf(event)}:${event.currency}`;
}

/** {@link routeStatsKeyOf} of the observation a feature row describes. */
export function routeStatsKeyOfRow(row: Pick<FeatureRow, 'route' | 'currency'>): string {
  return `${row.route}:${row.currency}`;
}

export function emptyRouteStats(key: string): RouteStats {
  return { key, buckets: DAYS_BEFORE_BUCKETS.map(() => ({ n: 0, mean: 0, m2: 0, min: 0, moves: 0, drops: 0 })) };
}

/** The index of the days-before bucket that holds `daysBefore`. */
export function bucketOf(daysBefore: number): number {
  const d = Math.max(0, daysBefore);
  for (let i = 0; i < DAYS_BEFORE_BUCKETS.length; i++) if (d <= DAYS_BEFORE_BUCKETS[i]) return i;
  return DAYS_BEFORE_BUCKETS.length - 1;
}

function bucketStd(b: BucketStats): number {
  return b.n > 1 ? Math.sqrt(b.m2 / (b.n - 1)) : 0;
}

/** Mean log price of the bucket, or undefined when it has too few observations to trust. */
export function bucketLogMean(stats: RouteStats, bucket: number): number | undefined {
  const b = stats.buckets[bucket];
  return b && b.n >= MIN_BUCKET_COUNT ? b.mean : undefined;
}

/**
 * The route's typical price range for this many days before departure: the middle
 * half of observed prices, assuming log-normal prices. Null until the bucket has data.
 */
export function typicalRange(stats: RouteStats, daysBefore: number): { low: number; high: number } | null {
  const b = stats.buckets[bucketOf(daysBefore)];
  if (!b || b.n < MIN_BUCKET_COUNT) return null;
  const spread = Z_QUARTILE * bucketStd(b);
  return { low: Math.exp(b.mean - spread), high: Math.exp(b.mean + spread) };
}

/**
 * The route's typical log-price change from `fromDaysBefore` to `toDaysBefore`,
 * or 0 when either bucket is unknown. Used for features and the forecast outlook.
 */
export function routeTrend(stats: RouteStats, fromDaysBefore: number, toDaysBefore: number): number {
  const from = bucketLogMean(stats, bucketOf(fromDaysBefore));
  const to = bucketLogMean(stats, bucketOf(toDaysBefore));
  return from === undefined || to === undefined ? 0 : to - from;
}

function addToBucket(stats: RouteStats, daysBefore: number, price: number, previous: number | undefined): void {
  const b = stats.buckets[bucketOf(daysBefore)];
  const x = Math.log(price);
  b.min = b.n === 0 ? x : Math.min(b.min ?? x, x);
  b.recent = b.n === 0 || b.recent === undefined ? x : b.recent + RECENT_WEIGHT * (x - b.recent);
  b.n += 1;
  const delta = x - b.mean;
  b.mean += delta / b.n;
  b.m2 += delta * (x - b.mean);
  if (previous !== undefined) {
    b.moves = (b.moves ?? 0) + 1;
    const dropped = price < previous ? 1 : 0;
    b.drops = (b.drops ?? 0) + dropped;
    b.recentDrops = (b.recentDrops ?? 0.25) + RECENT_WEIGHT * (dropped - (b.recentDrops ?? 0.25));
    const route = stats.buckets[0];
    const rose = price > previous ? 1 : 0;
    route.routeDrops = (route.routeDrops ?? 0.25) + ROUTE_WEIGHT * (dropped - (route.routeDrops ?? 0.25));
    route.routeDropsSlow = (route.routeDropsSlow ?? 0.25) + ROUTE_WEIGHT_SLOW * (dropped - (route.routeDropsSlow ?? 0.25));
    route.routeRises = (route.routeRises ?? 0.25) + ROUTE_WEIGHT * (rose - (route.routeRises ?? 0.25));
  }
}

/** Share of moves that were drops over buckets [from, to], with a weak prior of 1 in 4. */
function dropRate(stats: RouteStats, from: number, to: number): number {
  let moves = 0;
  let drops = 0;
  for (let b = from; b <= to; b++) {
    moves += stats.buckets[b]?.moves ?? 0;
    drops += stats.buckets[b]?.drops ?? 0;
  }
  return (drops + 1) / (moves + 4);
}

/** Lowest log price over buckets [0, to] that have any observation, or undefined. */
function lowestLogPrice(stats: RouteStats, to: number): number | undefined {
  let lowest: number | undefined;
  for (let b = 0; b <= to && b < stats.buckets.length; b++) {
    const bucket = stats.buckets[b];
    if (bucket.n > 0 && bucket.min !== undefined && (lowest === undefined || bucket.min < lowest)) lowest = bucket.min;
  }
  return lowest;
}

// Z-scores beyond this say nothing more and would only stretch the normalisation.
const Z_LIMIT = 5;

/** Insert a point keeping time order; returns its index. Late events land in place. */
function insertPoint(points: PricePoints, t: number, p: number): number {
  let values = points.values;
  if (values.length < 2 * (points.length + 1)) {
    // Doubling keeps the copies of a growing series linear in its length.
    const grown = new Float64Array(Math.max(16, values.length * 2));
    grown.set(values.subarray(0, 2 * points.length));
    points.values = values = grown;
  }
  let i = points.length;
  while (i > 0 && values[2 * (i - 1)] > t) i--;
  if (i < points.length) values.copyWithin(2 * (i + 1), 2 * i, 2 * points.length);
  values[2 * i] = t;
  values[2 * i + 1] = p;
  points.length += 1;
  return i;
}

const logChange = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? 0 : Math.log(a / b));

/**
 * Computes the feature vector of the point at `index`, using only points up to it
 * and the route statistics as they were before this observation. It runs for every
 * event ingested and every row a retrain replays: written as one pass that fills
 * one array, without closures or intermediate arrays.
 */
export function featuresAt(series: SeriesState, index: number, stats: RouteStats): number[] {
  // Point i is (values[2i], values[2i + 1]): its time and its price.
  const values = series.points.values;
  const price = values[2 * index + 1];
  const currentT = values[2 * index];
  const logPrice = Math.log(price);
  const departureDay = Math.round(dayStartMs(series.departureDate) / DAY_MS);
  const daysBefore = departureDay - Math.floor(currentT / DAY_MS);

  const first = values[1];
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let drops = 0;
  for (let i = 0; i <= index; i++) {
    const p = values[2 * i + 1];
    if (p < min) min = p;
    if (p > max) max = p;
    sum += p;
    if (i > 0 && p < values[2 * i - 1]) drops++;
  }
  const mean = sum / (index + 1);
  const prev1 = index >= 1 ? values[2 * index - 1] : undefined;
  const prev2 = index >= 2 ? values[2 * index - 3] : undefined;
  const prev3 = index >= 3 ? values[2 * index - 5] : undefined;

  let lastChangeIndex = 0;
  for (let i = index; i > 0; i--) {
    if (values[2 * i + 1] !== values[2 * i - 1]) {
      lastChangeIndex = i;
      break;
    }
  }
  const daysSinceChange = (currentT - values[2 * lastChangeIndex]) / DAY_MS;

  const bucket = bucketOf(daysBefore);
  const routeMean = bucketLogMean(stats, bucket);
  const nextBucket = Math.max(0, bucket - 1);
  const departureDow = (departureDay + 4) % 7; // 1970-01-01 was a Thursday (4).
  const routeMin = lowestLogPrice(stats, stats.buckets.length - 1);
  const routeMinAhead = lowestLogPrice(stats, bucket);
  const here = stats.buckets[bucket];

  const v = new Array<number>(FEATURE_COUNT);
  let k = 0;
  v[k++] = Math.log1p(Math.max(0, daysBefore));
  v[k++] = daysBefore / 100;
  for (let d = 0; d < 7; d++) v[k++] = d === departureDow ? 1 : 0;
  v[k++] = Math.log(price / first);
  v[k++] = Math.log(price / min);
  v[k++] = Math.log(price / max);
  v[k++] = Math.log(price / mean);
  v[k++] = logChange(price, prev1);
  v[k++] = logChange(prev1, prev2);
  v[k++] = logChange(prev2, prev3);
  v[k++] = Math.log1p(Math.max(0, daysSinceChange));
  v[k++] = Math.log1p(index + 1);
  v[k++] = Math.log1p(drops);
  v[k++] = routeMean === undefined ? 0 : logPrice - routeMean;
  v[k++] = routeMean === undefined ? 0 : 1;
  v[k++] = routeMean === undefined ? 0 : bucketStd(stats.buckets[bucket]);
  v[k++] = bucket === nextBucket ? 0 : routeTrend(stats, DAYS_BEFORE_BUCKETS[bucket], DAYS_BEFORE_BUCKETS[nextBucket]);
  v[k++] = routeTrend(stats, daysBefore, 0);
  v[k++] = routeMin === undefined ? 0 : logPrice - routeMin;
  v[k++] = routeMinAhead === undefined ? 0 : logPrice - routeMinAhead;
  v[k++] = here && here.n > 0 && here.min !== undefined ? logPrice - here.min : 0;
  for (let b = 0; b < stats.buckets.length; b++) {
    const bs = stats.buckets[b];
    if (bs.n < MIN_BUCKET_COUNT) {
      v[k++] = 0;
    } else {
      const std = Math.max(bucketStd(bs), 0.05);
      v[k++] = Math.max(-Z_LIMIT, Math.min(Z_LIMIT, (logPrice - bs.mean) / std));
    }
  }
  v[k++] = dropRate(stats, bucket, bucket);
  v[k++] = dropRate(stats, 0, bucket);
  v[k++] = routeMean === undefined || here.recent === undefined ? 0 : logPrice - here.recent;
  v[k++] = routeMean === undefined || here.recent === undefined ? 0 : here.recent - routeMean;
  v[k++] = routeMean === undefined ? 0.25 : (here.recentDrops ?? 0.25);
  const route = stats.buckets[0];
  v[k++] = route.routeDrops ?? 0.25;
  v[k++] = route.routeDropsSlow ?? 0.25;
  v[k++] = route.routeRises ?? 0.25;
  return v;
}

/**
 * Folds one fare event into its series and route statistics and returns its features.
 * Both `series` and `stats` are updated in place. The features see the route
 * statistics from before this event, so an observation never describes itself.
 * `observedMs` is the event's observedAt as epoch ms, when the caller parsed it already.
 */
export function observe(series: SeriesState, stats: RouteStats, event: FareEvent, observedMs = Date.parse(event.observedAt)): FeatureRow {
  const index = insertPoint(series.points, observedMs, event.price);
  const daysBefore = daysFromTo(observedMs, event.departureDate);
  const vector = featuresAt(series, index, stats);
  const range = typicalRange(stats, daysBefore);
  addToBucket(stats, daysBefore, event.price, index > 0 ? series.points.values[2 * index - 1] : undefined);
  return {
    series: series.key,
    route: routeKeyOf(event),
    observedAt: event.observedAt,
    daysBefore,
    price: event.price,
    currency: event.currency,
    vector,
    typicalRange: range,
  };
}

/**
 * {@link observe} without the features: folds the event into its series and route statistics,
 * exactly as observe does, for an observation that no forecast will be made from.
 */
export function record(series: SeriesState, stats: RouteStats, event: FareEvent, observedMs = Date.parse(event.observedAt)): void {
  const index = insertPoint(series.points, observedMs, event.price);
  const daysBefore = daysFromTo(observedMs, event.departureDate);
  addToBucket(stats, daysBefore, event.price, index > 0 ? series.points.values[2 * index - 1] : undefined);
}
