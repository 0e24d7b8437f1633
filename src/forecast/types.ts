/**
 * The public forecast of one series and the stores behind it. These types are the
 * API contract: names stay, fields are only ever added.
 */
import type { OutlookCurve } from './outlook.js';

export type Recommendation = 'buy' | 'wait';
export type PriceLevel = 'low' | 'typical' | 'high';

/** A price range in the series' currency. */
export interface PriceRange {
  low: number;
  high: number;
}

/** The expected price on one remaining day before departure. */
export interface OutlookPoint {
  /** Whole days before departure (0 on the departure day). */
  daysBefore: number;
  expectedPrice: number;
}

/** One observed price of the series. */
export interface HistoryPoint {
  observedAt: string;
  price: number;
}

/**
 * A forecast as stored by the predict function: the public forecast without its
 * history, which is read from the series store when the forecast is served.
 */
export interface StoredForecast {
  origin: string;
  destination: string;
  departureDate: string;
  /** observedAt of the latest fare event this forecast was computed from. */
  asOf: string;
  daysBefore: number;
  currency: string;
  currentPrice: number;
  recommendation: Recommendation;
  /** The probability that the recommendation is right, in [0.5, 1]. */
  confidence: number;
  probabilityCheaperLater: number;
  /** The median of the lowest price from now to departure; never above the current price. */
  expectedLowestPrice: number;
  /** The 80% interval of that lowest price. */
  lowestPriceRange: PriceRange;
  /** The current price against the route's typical range; null while the route has too little data. */
  priceLevel: PriceLevel | null;
  /** The middle half of the route's prices at this many days before departure; null while unknown. */
  typicalPriceRange: PriceRange | null;
  outlook: OutlookPoint[];
  model: { version: string; trainedAt: string };
}

/** The public forecast: the stored one plus the series' observed prices. */
export interface Forecast extends StoredForecast {
  history: HistoryPoint[];
}

/** A forecast without its outlook: the part stored as JSON. */
export type ForecastCore = Omit<StoredForecast, 'outlook'>;

/**
 * A forecast as predict stores it: its core as JSON and what its outlook is computed from
 * (the outlook's prices, one per remaining day, are expanded when it is rendered).
 */
export interface ForecastRecord {
  series: string;
  asOfMs: number;
  core: ForecastCore;
  outlookCurve: OutlookCurve;
}

/** What change detection needs of the stored forecast of a series. */
export interface ForecastSummary {
  asOfMs: number;
  recommendation: Recommendation;
  expectedLowestPrice: number;
  modelVersion: string;
}

/** A stored forecast ready to serve: its core JSON, its outlook and the series' prices. */
export interface ForecastRead extends ForecastStamp {
  /** The ForecastCore as JSON text, exactly as saved. */
  coreJson: string;
  /** The outlook's expected prices, tomorrow first: point i is for daysBefore n − 1 − i. */
  outlookPrices: Float64Array;
  asOfMs: number;
  /** The series' observed prices in time order, packed as (epoch ms, price) pairs. */
  points: Float64Array;
}

/** What identifies one rendering of a stored forecast: it changes whenever the forecast or its series does. */
export interface ForecastStamp {
  /** Bumped on every write of the forecast. */
  revision: number;
  /** Observations of the series, late ones included. */
  observations: number;
}

/** One route as GET /v1/routes lists it. */
export interface RouteSummary {
  origin: string;
  destination: string;
  currency: string;
  /** Series (departure dates) seen on this route. */
  series: number;
  observations: number;
  /** Series that have a stored forecast. */
  forecasts: number;
  latestObservedAt: string;
  firstDepartureDate: string;
  lastDepartureDate: string;
}

/** The latest forecast of a departure, in brief. */
export interface DepartureForecastSummary {
  asOf: string;
  recommendation: Recommendation;
  confidence: number;
  probabilityCheaperLater: number;
  expectedLowestPrice: number;
  priceLevel: PriceLevel | null;
  modelVersion: string;
}

/** One departure date of a route, with its latest price and forecast. */
export interface DepartureSummary {
  departureDate: string;
  series: string;
  currency: string;
  observations: number;
  lastObservedAt: string;
  latestPrice: number;
  forecast: DepartureForecastSummary | null;
}

/** The latest forecast of each series. */
export interface ForecastStore {
  /** The stored forecasts of these series, in brief; absent keys have none. The briefs are shared: read them, never change them. */
  summaries(series: readonly string[]): Map<string, ForecastSummary>;
  /**
   * Upserts forecasts. A stored forecast with a later asOf is kept: a late event
   * never overwrites a newer forecast. Call inside a transaction (from an effect).
   */
  save(records: Iterable<ForecastRecord>): void;
  /** The stored forecast of a series and its price history, or undefined when none is stored. */
  read(series: string): ForecastRead | undefined;
  /** Only the stamp of the stored forecast: a cheap check whether a cached rendering is current. */
  stamp(series: string): ForecastStamp | undefined;
  /**
   * A number that stays the same while no stamp can have changed, and changes once any write
   * was committed that could have changed one: by this connection through any store at once, by
   * another connection or process from the next turn of the event loop on. Read it before the
   * stamps or forecasts it is to vouch for.
   * Undefined while this connection is inside a transaction, whose writes may still roll back:
   * nothing read then may be cached.
   */
  generation(): number | undefined;
  /** Every route with observations, with counts. */
  routes(): RouteSummary[];
  /** The departures of a route between two dates (inclusive, YYYY-MM-DD), in date order. */
  departures(query: { origin: string; destination: string; from?: string; to?: string; limit: number }): DepartureSummary[];
}
