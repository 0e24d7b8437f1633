import { DAYS_BEFORE_BUCKETS, routeTrend, typicalRange, type RouteStats } from '../model/features.js';
import { roundMoney } from './money.js';
import type { OutlookPoint } from './types.js';

const DAY_MS = 86_400_000;

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

/**
 * The route's typical log-price change from `fromDaysBefore` to each remaining day,
 * interpolated linearly between bucket centres so the curve has no steps. Buckets
 * without enough data are left out; with fewer than one known bucket besides the
 * current one the curve is flat (0).
 */
function typicalCurve(stats: RouteStats | undefined, fromDaysBefore: number): (daysBefore: number) => number {
  if (!stats || typicalRange(stats, fromDaysBefore) === null) return () => 0;
  // Knots: (days-before, log change from now), from the route's typical curve.
  const knots: { d: number; v: number }[] = [];
  for (const centre of CENTRES) {
    if (typicalRange(stats, centre) !== null) knots.push({ d: centre, v: routeTrend(stats, fromDaysBefore, centre) });
  }
  if (knots.length < 2) return () => 0;
  const at = (d: number): number => {
    if (d <= knots[0].d) return knots[0].v;
    const last = knots[knots.length - 1];
    if (d >= last.d) return last.v;
    let i = 1;
    while (knots[i].d < d) i++;
    const a = knots[i - 1];
    const b = knots[i];
    return a.v + ((b.v - a.v) * (d - a.d)) / (b.d - a.d);
  };
  // Anchor the interpolated curve at today, so day 0 of the outlook starts at the current price.
  const today = at(fromDaysBefore);
  return (d) => at(d) - today;
}

/**
 * The expected price on each remaining day before departure, from tomorrow down to
 * the departure day:
 *
 *   expectedPrice(d) = currentPrice × exp(w(h) × trend(d)),  w(h) = 1 − exp(−h / 7)
 *
 * where trend(d) is the route's typical log-price change from today's days-before to
 * d (its mean log price per days-before bucket, {@link routeTrend}, interpolated
 * between bucket centres) and h = daysBefore − d is how far ahead the day is. So the
 * outlook starts at the current price and bends towards the route's usual price
 * movement. It is a typical path, not a prediction of this fare's lowest price:
 * that is expectedLowestPrice, from the model.
 */
export function outlookOf(input: {
  departureDate: string;
  daysBefore: number;
  currentPrice: number;
  routeStats: RouteStats | undefined;
}): OutlookPoint[] {
  const { departureDate, daysBefore, currentPrice } = input;
  if (daysBefore <= 0) return [];
  const trend = typicalCurve(input.routeStats, daysBefore);
  const departureMs = Date.parse(`${departureDate}T00:00:00Z`);
  const points: OutlookPoint[] = [];
  for (let d = daysBefore - 1; d >= 0; d--) {
    const ahead = daysBefore - d;
    const weight = 1 - Math.exp(-ahead / OUTLOOK_PERSISTENCE_DAYS);
    points.push({
      daysBefore: d,
      date: new Date(departureMs - d * DAY_MS).toISOString().slice(0, 10),
      expectedPrice: roundMoney(currentPrice * Math.exp(weight * trend(d))),
    });
  }
  return points;
}
