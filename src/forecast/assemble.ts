import { daysFromTo, routeKeyOf } from '../events/fare-event.js';
import {
  emptyRouteStats,
  featuresAt,
  routeStatsKeyOf,
  typicalRange,
  type FeatureRow,
  type RouteStats,
  type SeriesState,
} from '../model/features.js';
import { lowestRatioGiven, type FareModel, type Prediction } from '../model/predictor.js';
import { roundMoney, roundProbability } from './money.js';
import { expandOutlook, outlookCurveOf, outlookPricesOfCurve, type OutlookCurve } from './outlook.js';
import { priceLevelOf } from './price-level.js';
import type { ForecastCore, PriceRange, Recommendation, StoredForecast } from './types.js';

const SERIES_KEY = /^[A-Z]{3}-[A-Z]{3}-\d{4}-\d{2}-\d{2}$/;

/** The route and departure date a series key names, e.g. `BCN-BUD-2016-04-20`. */
export function parseSeriesKey(series: string): { origin: string; destination: string; departureDate: string } {
  // test() and fixed offsets: this runs for every forecast, and exec() builds a match array each time.
  if (!SERIES_KEY.test(series)) throw new Error(`"${series}" is not a series key (ORIGIN-DESTINATION-YYYY-MM-DD)`);
  return { origin: series.slice(0, 3), destination: series.slice(4, 7), departureDate: series.slice(8) };
}

/**
 * Buy or wait: wait when a cheaper price later is more likely than not. The
 * confidence is the probability that this recommendation is right, so it is at least 0.5.
 */
export function recommend(probabilityCheaperLater: number): {
  recommendation: Recommendation;
  confidence: number;
  probabilityCheaperLater: number;
} {
  const p = roundProbability(Math.min(1, Math.max(0, probabilityCheaperLater)));
  const recommendation: Recommendation = p > 0.5 ? 'wait' : 'buy';
  return { recommendation, confidence: roundProbability(recommendation === 'wait' ? p : 1 - p), probabilityCheaperLater: p };
}

const clampRatio = (r: number) => (Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 1);

/**
 * The lowest price still to come: the median and the 80% interval, from the
 * model's ratios to the current price. Ratios are ordered and capped at 1, and
 * rounding is monotonic, so low ≤ expected ≤ high ≤ current price always holds.
 */
export function lowestPriceOf(currentPrice: number, ratio: Prediction['lowestRatio']): {
  expectedLowestPrice: number;
  lowestPriceRange: PriceRange;
} {
  // Three values in order, without an array to sort: this runs for every forecast.
  const a = clampRatio(ratio.q10);
  const b = clampRatio(ratio.q50);
  const c = clampRatio(ratio.q90);
  const q10 = Math.min(a, b, c);
  const q90 = Math.max(a, b, c);
  const q50 = a <= b ? (b <= c ? b : Math.max(a, c)) : a <= c ? a : Math.max(b, c);
  return {
    expectedLowestPrice: roundMoney(currentPrice * q50),
    lowestPriceRange: { low: roundMoney(currentPrice * q10), high: roundMoney(currentPrice * q90) },
  };
}

const roundRange = (range: PriceRange | null): PriceRange | null =>
  range ? { low: roundMoney(range.low), high: roundMoney(range.high) } : null;

/** What the forecast of one observation is built from. */
export interface ForecastInput {
  /** The features of the latest observation of the series. */
  row: FeatureRow;
  /** The model's output for `row.vector`. */
  prediction: Prediction;
  model: Pick<FareModel, 'version' | 'trainedAt'>;
  /** The route's current statistics (in the row's currency), if any. */
  routeStats: RouteStats | undefined;
}

/**
 * Builds the public forecast (without history) of a series from its latest
 * observation's features, the model's prediction and the route's statistics, in
 * the two parts it is stored as: the core and the outlook's curve.
 * Pure: the same inputs always give the same forecast. On the departure day no
 * later price exists, so the answer is buy, with the current price as the lowest.
 */
export function assembleForecastParts({ row, prediction, model, routeStats }: ForecastInput): {
  core: ForecastCore;
  outlookCurve: OutlookCurve;
} {
  const { origin, destination, departureDate } = parseSeriesKey(row.series);
  const currentPrice = roundMoney(row.price);
  const departed = row.daysBefore <= 0;
  const decision = recommend(departed ? 0 : prediction.probabilityCheaperLater);
  // Again with the probability as answered (rounded), so the answer agrees with itself exactly.
  const lowest = lowestPriceOf(row.price, lowestRatioGiven(decision.probabilityCheaperLater, prediction.lowestRatio));
  // The freshest statistics know the most; the row's range (from before this event) is the fallback.
  const typical = roundRange((routeStats && typicalRange(routeStats, row.daysBefore)) ?? row.typicalRange);
  const core: ForecastCore = {
    origin,
    destination,
    departureDate,
    asOf: row.observedAt,
    daysBefore: row.daysBefore,
    currency: row.currency,
    currentPrice,
    recommendation: decision.recommendation,
    confidence: decision.confidence,
    probabilityCheaperLater: decision.probabilityCheaperLater,
    expectedLowestPrice: lowest.expectedLowestPrice,
    lowestPriceRange: lowest.lowestPriceRange,
    priceLevel: priceLevelOf(currentPrice, typical),
    typicalPriceRange: typical,
    model: { version: model.version, trainedAt: model.trainedAt },
  };
  return { core, outlookCurve: outlookCurveOf({ daysBefore: row.daysBefore, currentPrice: row.price, routeStats }) };
}

/** {@link assembleForecastParts} as one object. */
export function assembleForecast(input: ForecastInput): StoredForecast {
  const { core, outlookCurve } = assembleForecastParts(input);
  return { ...core, outlook: expandOutlook(outlookPricesOfCurve(outlookCurve)) };
}

/**
 * The features of a series' latest observation, computed from its stored history
 * and the route's current statistics: for forecasting a series that the predict
 * function has not seen (its events arrived while no model was serving).
 */
export function latestFeatureRow(series: SeriesState, stats: RouteStats | undefined): FeatureRow {
  const index = series.points.length - 1;
  if (index < 0) throw new Error(`series ${series.key} has no observations`);
  const observedMs = series.points.values[2 * index];
  const observedAt = new Date(observedMs).toISOString();
  const daysBefore = daysFromTo(observedMs, series.departureDate);
  const routeStats = stats ?? emptyRouteStats(routeStatsKeyOf(series));
  return {
    series: series.key,
    route: routeKeyOf(series),
    observedAt,
    daysBefore,
    price: series.points.values[2 * index + 1],
    currency: series.currency,
    vector: featuresAt(series, index, routeStats),
    typicalRange: typicalRange(routeStats, daysBefore),
  };
}
