import type { ForecastCore, ForecastSummary, Recommendation } from './types.js';

/** A change of the expected lowest price above this share of the previous one is news. */
export const LOWEST_PRICE_CHANGE_RATIO = 0.01;
/** …and only when it is also more than this many units of the currency. */
export const LOWEST_PRICE_CHANGE_UNITS = 1;

/** The payload of a `forecast.updated` event: the hook for price alerts. */
export interface ForecastUpdated {
  series: string;
  origin: string;
  destination: string;
  departureDate: string;
  asOf: string;
  currency: string;
  currentPrice: number;
  recommendation: Recommendation;
  confidence: number;
  expectedLowestPrice: number;
  /** The forecast this one replaced, or null for the series' first forecast. */
  previous: { recommendation: Recommendation; expectedLowestPrice: number; modelVersion: string } | null;
  /** Why it was emitted. */
  reasons: ('first' | 'recommendation' | 'expected_lowest_price')[];
  modelVersion: string;
}

/**
 * Whether a new forecast differs enough from the stored one to tell subscribers:
 * the series' first forecast, a flipped recommendation, or an expected lowest price
 * that moved by more than 1% and more than one currency unit (so neither cent-level
 * noise on cheap fares nor 1% of a large HUF fare counts alone). Returns the reasons,
 * empty when nothing meaningful changed.
 */
export function meaningfulChanges(previous: ForecastSummary | undefined, next: ForecastCore): ForecastUpdated['reasons'] {
  if (!previous) return ['first'];
  const reasons: ForecastUpdated['reasons'] = [];
  if (previous.recommendation !== next.recommendation) reasons.push('recommendation');
  const delta = Math.abs(next.expectedLowestPrice - previous.expectedLowestPrice);
  if (delta > LOWEST_PRICE_CHANGE_UNITS && delta > LOWEST_PRICE_CHANGE_RATIO * previous.expectedLowestPrice) {
    reasons.push('expected_lowest_price');
  }
  return reasons;
}

/** The `forecast.updated` payload for a new forecast of `series`. */
export function forecastUpdatedOf(
  series: string,
  next: ForecastCore,
  previous: ForecastSummary | undefined,
  reasons: ForecastUpdated['reasons'],
): ForecastUpdated {
  return {
    series,
    origin: next.origin,
    destination: next.destination,
    departureDate: next.departureDate,
    asOf: next.asOf,
    currency: next.currency,
    currentPrice: next.currentPrice,
    recommendation: next.recommendation,
    confidence: next.confidence,
    expectedLowestPrice: next.expectedLowestPrice,
    previous: previous
      ? { recommendation: previous.recommendation, expectedLowestPrice: previous.expectedLowestPrice, modelVersion: previous.modelVersion }
      : null,
    reasons,
    modelVersion: next.model.version,
  };
}
