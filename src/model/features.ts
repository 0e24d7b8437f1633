import {
  daysBeforeDeparture,
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
export const FEATURE_VERSION = 1;

/** Upper bounds (inclusive) of the days-before buckets used for route statistics. */
export const DAYS_BEFORE_BUCKETS = [1, 3, 7, 14, 21, 30, 45, 60, 90, Infinity] as const;

/** The names of the feature vector's entries, in order. */
export const FEATURE_NAMES = [
  'days_before_log',
  'days_before_scaled',
  ...[0, 1, 2, 3, 4, 5, 6].map((d) => `departure_dow_${d}`),
  ...[0, 1, 2, 3, 4, 5, 6].map((d) => `observed_dow_${d}`),
  'departure_doy_sin',
  'departure_doy_cos',
  'price_vs_first',
  'price_vs_min',
  'price_vs_max',
  'price_vs_mean',
  'change_last',
  'change_prev',
  'change_prev2',
  'days_since_change_log',
  'observations_log',
  'price_vs_route_typical',
  'route_bucket_known',
  'route_bucket_spread',
  'route_trend_next_bucket',
  'route_trend_to_departure',
] as const;

export const FEATURE_COUNT = FEATURE_NAMES.length;

const DAY_MS = 86_400_000;
const MIN_BUCKET_COUNT = 5;
// z for the 25th/75th percentiles of a normal: the typical range is the middle half.
const Z_QUARTILE = 0.6745;

/** One observed price of a series. `t` is epoch ms of observedAt. */
export interface PricePoint {
  t: number;
  p: number;
}

/** The state of one series (route + departure date): its observed prices in time order. */
export interface SeriesState {
  key: string;
  origin: string;
  destination: string;
  departureDate: string;
  currency: string;
  points: PricePoint[];
}

/** Running statistics of log price for one days-before bucket (Welford). */
export interface BucketStats {
  n: number;
  mean: number;
  m2: number;
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
    points: [],
  };
}

/** Route statistics are kept per currency too, so prices are never mixed across currencies. */
export function routeStatsKeyOf(event: Pick<FareEvent, 'origin' | 'destination' | 'currency'>): string {
  return `${routeKeyOf(event)}:${event.currency}`;
}

export function emptyRouteStats(key: string): RouteStats {
  return { key, buckets: DAYS_BEFORE_BUCKETS.map(() => ({ n: 0, mean: 0, m2: 0 })) };
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
function bucketLogMean(stats: RouteStats, bucket: number): number | undefined {
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

function addToBucket(stats: RouteStats, daysBefore: number, price: number): void {
  const b = stats.buckets[bucketOf(daysBefore)];
  const x = Math.log(price);
  b.n += 1;
  const delta = x - b.mean;
  b.mean += delta / b.n;
  b.m2 += delta * (x - b.mean);
}

/** Insert a point keeping time order; returns its index. Late events land in place. */
function insertPoint(points: PricePoint[], point: PricePoint): number {
  let i = points.length;
  while (i > 0 && points[i - 1].t > point.t) i--;
  points.splice(i, 0, point);
  return i;
}

function dayOfYearAngle(date: string): number {
  const start = Date.UTC(Number(date.slice(0, 4)), 0, 1);
  return (2 * Math.PI * (dayStartMs(date) - start)) / (365.25 * DAY_MS);
}

function oneHot(index: number, size: number): number[] {
  const v = new Array<number>(size).fill(0);
  v[index] = 1;
  return v;
}

/**
 * Computes the feature vector of the point at `index`, using only points up to it
 * and the route statistics as they were before this observation.
 */
export function featuresAt(series: SeriesState, index: number, stats: RouteStats): number[] {
  const points = series.points;
  const current = points[index];
  const price = current.p;
  const observedAt = new Date(current.t).toISOString();
  const daysBefore = daysBeforeDeparture({ observedAt, departureDate: series.departureDate });

  const first = points[0].p;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i <= index; i++) {
    const p = points[i].p;
    if (p < min) min = p;
    if (p > max) max = p;
    sum += p;
  }
  const mean = sum / (index + 1);
  const prev = (k: number) => (index - k >= 0 ? points[index - k].p : undefined);
  const logChange = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? 0 : Math.log(a / b);

  let lastChangeIndex = 0;
  for (let i = index; i > 0; i--) {
    if (points[i].p !== points[i - 1].p) {
      lastChangeIndex = i;
      break;
    }
  }
  const daysSinceChange = (current.t - points[lastChangeIndex].t) / DAY_MS;

  const bucket = bucketOf(daysBefore);
  const routeMean = bucketLogMean(stats, bucket);
  const nextBucket = Math.max(0, bucket - 1);
  const angle = dayOfYearAngle(series.departureDate);
  const departureDow = new Date(dayStartMs(series.departureDate)).getUTCDay();
  const observedDow = new Date(current.t).getUTCDay();

  return [
    Math.log1p(Math.max(0, daysBefore)),
    daysBefore / 100,
    ...oneHot(departureDow, 7),
    ...oneHot(observedDow, 7),
    Math.sin(angle),
    Math.cos(angle),
    Math.log(price / first),
    Math.log(price / min),
    Math.log(price / max),
    Math.log(price / mean),
    logChange(price, prev(1)),
    logChange(prev(1), prev(2)),
    logChange(prev(2), prev(3)),
    Math.log1p(Math.max(0, daysSinceChange)),
    Math.log1p(index + 1),
    routeMean === undefined ? 0 : Math.log(price) - routeMean,
    routeMean === undefined ? 0 : 1,
    routeMean === undefined ? 0 : bucketStd(stats.buckets[bucket]),
    bucket === nextBucket ? 0 : routeTrend(stats, DAYS_BEFORE_BUCKETS[bucket], DAYS_BEFORE_BUCKETS[nextBucket]),
    routeTrend(stats, daysBefore, 0),
  ];
}

/**
 * Folds one fare event into its series and route statistics and returns its features.
 * Both `series` and `stats` are updated in place. The features see the route
 * statistics from before this event, so an observation never describes itself.
 */
export function observe(series: SeriesState, stats: RouteStats, event: FareEvent): FeatureRow {
  const t = Date.parse(event.observedAt);
  const index = insertPoint(series.points, { t, p: event.price });
  const daysBefore = daysBeforeDeparture(event);
  const vector = featuresAt(series, index, stats);
  const range = typicalRange(stats, daysBefore);
  addToBucket(stats, daysBefore, event.price);
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
