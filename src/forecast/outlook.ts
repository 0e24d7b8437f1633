import { bucketLogMean, bucketOf, DAYS_BEFORE_BUCKETS, type RouteStats } from '../model/features.js';
import { roundMoney } from './money.js';
import type { OutlookPoint } from './types.js';

/**
 * How many days it takes for the outlook to move most of the way from the current
 * price to the route's typical curve. Fares are sticky (on most days they do not
 * change), so the next few days stay close to today's price.
 */
export const OUTLOOK_PERSISTENCE_DAYS = 7;

/** A representative days-before for each bucket of the route statistics: its middle. */
function bucketCentres(): number[] {
  let lower = 0;
  return DAYS_BEFORE_BUCKETS.map((upper) => {
    // The open last bucket (over 90 days) is centred a month past its start.
    const centre = Number.isFinite(upper) ? (lower + upper) / 2 : lower + 30;
    lower = upper;
    return centre;
  });
}

const CENTRES = bucketCentres();
// Centre i lies in bucket i, so a curve's value i is the change to bucket i.
if (CENTRES.some((centre, i) => bucketOf(centre) !== i)) throw new Error('a bucket centre lies outside its bucket');

/** The linear interpolation of `knots` at `d`, flat beyond the first and last knot. */
function interpolate(knots: readonly { d: number; v: number }[], d: number): number {
  if (d <= knots[0].d) return knots[0].v;
  const last = knots[knots.length - 1];
  if (d >= last.d) return last.v;
  let i = 1;
  while (knots[i].d < d) i++;
  const a = knots[i - 1];
  const b = knots[i];
  return a.v + ((b.v - a.v) * (d - a.d)) / (b.d - a.d);
}

// w(h) = 1 − exp(−h / 7) for h days ahead, computed once: every forecast uses them.
const MAX_TABULATED_DAYS = 800;
const WEIGHTS = Float64Array.from({ length: MAX_TABULATED_DAYS + 1 }, (_, h) => 1 - Math.exp(-h / OUTLOOK_PERSISTENCE_DAYS));
const weightOf = (h: number) => (h <= MAX_TABULATED_DAYS ? WEIGHTS[h] : 1);

/**
 * What an outlook is computed from, packed: `[daysBefore, currentPrice, v…]`, where v is the
 * route's typical log-price change from today's days-before to each bucket centre (NaN for a
 * bucket without enough data; all NaN for a flat outlook). A few dozen bytes where the prices
 * it expands to take 8 per remaining day: forecasts store this and expand it when rendered.
 */
export type OutlookCurve = Float64Array;

const CURVE_HEADER = 2;

/**
 * The outlook curve of an observation, from the route's statistics as they are now: the
 * typical log-price change from today's bucket to each bucket with enough data ({@link
 * bucketLogMean}), to interpolate between bucket centres so the curve has no steps. Flat
 * (all NaN) when today's bucket or all others are unknown.
 */
export function outlookCurveOf(input: { daysBefore: number; currentPrice: number; routeStats: RouteStats | undefined }): OutlookCurve {
  const { daysBefore, routeStats } = input;
  const curve = new Float64Array(CURVE_HEADER + CENTRES.length).fill(Number.NaN);
  curve[0] = daysBefore;
  curve[1] = input.currentPrice;
  const today = daysBefore > 0 && routeStats ? bucketLogMean(routeStats, bucketOf(daysBefore)) : undefined;
  if (today === undefined) return curve;
  let known = 0;
  for (let b = 0; b < CENTRES.length; b++) {
    const mean = bucketLogMean(routeStats!, b);
    if (mean === undefined) continue;
    curve[CURVE_HEADER + b] = mean - today;
    known++;
  }
  if (known < 2) curve.fill(Number.NaN, CURVE_HEADER);
  return curve;
}

/** The knots of a packed curve, in the order of the bucket centres. */
function knotsOfCurve(curve: OutlookCurve): { d: number; v: number }[] {
  const knots: { d: number; v: number }[] = [];
  for (let i = 0; i < CENTRES.length; i++) {
    const v = curve[CURVE_HEADER + i];
    if (!Number.isNaN(v)) knots.push({ d: CENTRES[i], v });
  }
  return knots;
}

/**
 * The expected price on each remaining day before departure, from tomorrow down to
 * the departure day, packed in order (the first is tomorrow's):
 *
 *   expectedPrice(d) = currentPrice × exp(w(h) × trend(d)),  w(h) = 1 − exp(−h / 7)
 *
 * where trend(d) is the route's typical log-price change from today's days-before to
 * d (its mean log price per days-before bucket, {@link outlookCurveOf}, interpolated
 * between bucket centres and anchored at today) and h = daysBefore − d is how far
 * ahead the day is. So the outlook starts at the current price and bends towards the
 * route's usual price movement. It is a typical path, not a prediction of this fare's
 * lowest price: that is expectedLowestPrice, from the model.
 */
export function outlookPricesOfCurve(curve: OutlookCurve): Float64Array {
  const daysBefore = curve[0];
  const currentPrice = curve[1];
  if (!(daysBefore > 0)) return new Float64Array(0);
  const knots = knotsOfCurve(curve);
  const today = knots.length > 0 ? interpolate(knots, daysBefore) : 0;
  const prices = new Float64Array(daysBefore);
  for (let d = daysBefore - 1; d >= 0; d--) {
    const trend = knots.length > 0 ? interpolate(knots, d) - today : 0;
    prices[daysBefore - 1 - d] = roundMoney(trend === 0 ? currentPrice : currentPrice * Math.exp(weightOf(daysBefore - d) * trend));
  }
  return prices;
}

/** The outlook prices of an observation: {@link outlookPricesOfCurve} of {@link outlookCurveOf}. */
export function outlookPricesOf(input: { daysBefore: number; currentPrice: number; routeStats: RouteStats | undefined }): Float64Array {
  return outlookPricesOfCurve(outlookCurveOf(input));
}

/** The outlook points of packed prices: point i is for daysBefore n − 1 − i, down to 0. */
export function expandOutlook(prices: ArrayLike<number>): OutlookPoint[] {
  const n = prices.length;
  return Array.from({ length: n }, (_, i) => ({ daysBefore: n - 1 - i, expectedPrice: prices[i] }));
}

/** {@link outlookPricesOf} as outlook points. */
export function outlookOf(input: { daysBefore: number; currentPrice: number; routeStats: RouteStats | undefined }): OutlookPoint[] {
  return expandOutlook(outlookPricesOf(input));
}
