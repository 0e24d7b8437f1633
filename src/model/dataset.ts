import { dayStartMs, routeKeyOf, seriesKeyOf, type FareEvent } from '../events/fare-event.js';
import {
  emptyRouteStats,
  emptySeries,
  FEATURE_COUNT,
  observe,
  routeStatsKeyOf,
  type RouteStats,
  type SeriesState,
} from './features.js';

/**
 * Training data: fare events replayed in event-time order through {@link observe},
 * the same code the extract-features function runs, so a training row is exactly
 * the vector the service computes for that observation.
 */

/** Feature rows in replay (event-time) order, column-wise for speed. */
export interface FeatureDataset {
  size: number;
  width: number;
  /** Row-major, size × width. */
  features: Float32Array;
  /** Per row: index into seriesKeys. */
  series: Int32Array;
  seriesKeys: string[];
  /** Per row: index into routeKeys. */
  route: Int32Array;
  routeKeys: string[];
  /** Per row: observedAt in epoch ms. */
  time: Float64Array;
  daysBefore: Int16Array;
  price: Float64Array;
  /** Per series: its rows in time order. */
  rowsOfSeries: Int32Array[];
  /** Per series: the start (00:00Z) of its departure date, epoch ms. */
  departure: Float64Array;
}

/** Sorts fare events by observedAt (stable), the order extract-features sees when events arrive in time. */
export function sortByEventTime(events: readonly FareEvent[]): FareEvent[] {
  return events
    .map((event, index) => ({ event, index, t: Date.parse(event.observedAt) }))
    .sort((a, b) => a.t - b.t || a.index - b.index)
    .map((x) => x.event);
}

/**
 * Replays events (already in event-time order) through observe() with fresh series
 * and route statistics, and collects every feature row.
 */
export function buildDataset(events: readonly FareEvent[]): FeatureDataset {
  const n = events.length;
  const width = FEATURE_COUNT;
  const features = new Float32Array(n * width);
  const series = new Int32Array(n);
  const route = new Int32Array(n);
  const time = new Float64Array(n);
  const daysBefore = new Int16Array(n);
  const price = new Float64Array(n);
  const seriesIndex = new Map<string, number>();
  const routeIndex = new Map<string, number>();
  const seriesStates: SeriesState[] = [];
  const stats = new Map<string, RouteStats>();
  const rowLists: number[][] = [];
  const departures: number[] = [];

  for (let i = 0; i < n; i++) {
    const event = events[i];
    const key = seriesKeyOf(event);
    let s = seriesIndex.get(key);
    if (s === undefined) {
      s = seriesStates.length;
      seriesIndex.set(key, s);
      seriesStates.push(emptySeries(event));
      rowLists.push([]);
      departures.push(dayStartMs(event.departureDate));
    }
    const statsKey = routeStatsKeyOf(event);
    let routeStats = stats.get(statsKey);
    if (!routeStats) {
      routeStats = emptyRouteStats(statsKey);
      stats.set(statsKey, routeStats);
    }
    const row = observe(seriesStates[s], routeStats, event);
    const routeKey = routeKeyOf(event);
    let r = routeIndex.get(routeKey);
    if (r === undefined) {
      r = routeIndex.size;
      routeIndex.set(routeKey, r);
    }
    features.set(row.vector, i * width);
    series[i] = s;
    route[i] = r;
    time[i] = Date.parse(row.observedAt);
    daysBefore[i] = row.daysBefore;
    price[i] = row.price;
    rowLists[s].push(i);
  }
  // Rows were appended in replay order; a late event within a series is put back in time order.
  const rowsOfSeries = rowLists.map((rows) => Int32Array.from(rows).sort((a, b) => time[a] - time[b] || a - b));
  return {
    size: n,
    width,
    features,
    series,
    seriesKeys: [...seriesIndex.keys()],
    route,
    routeKeys: [...routeIndex.keys()],
    time,
    daysBefore,
    price,
    rowsOfSeries,
    departure: Float64Array.from(departures),
  };
}

/** A series counts as complete once it is observed this close to departure. */
export const COMPLETE_WITHIN_DAYS = 1;

/** Labels of every row, computed from what was observed up to `windowEnd` only. */
export interface Labels {
  windowEnd: number;
  /** 1 when a strictly cheaper price is seen later (within the window), 0 when none came in a complete series, NaN when unknown. */
  cheaperLater: Float32Array;
  /** Lowest price from this row to the series' end (this price included) ÷ this price; NaN unless the series is complete. */
  lowestRatio: Float32Array;
  /** Per series: observed down to ≤ 1 day before departure within the window. */
  complete: Uint8Array;
  /** Per series: the index in rowsOfSeries of its last row within the window, or -1. */
  lastInWindow: Int32Array;
  /** Per row, for censored rows only: see {@link censoredExposure}. Absent: censored rows are not used. */
  exposure?: Float32Array;
}

/**
 * Labels rows using only observations at or before `windowEnd`. A series still open at
 * the window's end is censored: a cheaper price seen within the window makes a
 * positive label, but "no cheaper price" and the lowest ratio need a complete series.
 * Rows observed after the window get no labels.
 */
export function labelDataset(ds: FeatureDataset, windowEnd: number): Labels {
  const cheaperLater = new Float32Array(ds.size).fill(Number.NaN);
  const lowestRatio = new Float32Array(ds.size).fill(Number.NaN);
  const complete = new Uint8Array(ds.rowsOfSeries.length);
  const lastInWindow = new Int32Array(ds.rowsOfSeries.length).fill(-1);
  ds.rowsOfSeries.forEach((rows, s) => {
    let last = -1;
    let done = false;
    for (let k = 0; k < rows.length; k++) {
      const i = rows[k];
      if (ds.time[i] > windowEnd) break;
      last = k;
      if (ds.daysBefore[i] <= COMPLETE_WITHIN_DAYS) done = true;
    }
    lastInWindow[s] = last;
    complete[s] = done ? 1 : 0;
    // Walk back from the window's last row, carrying the lowest price seen later.
    let lowestLater = Infinity;
    for (let k = last; k >= 0; k--) {
      const i = rows[k];
      const p = ds.price[i];
      if (lowestLater < p) cheaperLater[i] = 1;
      else if (done) cheaperLater[i] = 0;
      if (done) lowestRatio[i] = Math.min(p, lowestLater) / p;
      if (p < lowestLater) lowestLater = p;
    }
  });
  return { windowEnd, cheaperLater, lowestRatio, complete, lastInWindow };
}

const DAY_MS = 86_400_000;
const EXPOSURE_BINS = 20;
// An exposure of 1 would make the censored likelihood 1 − p vanish at p = 1.
const MAX_EXPOSURE = 0.95;

/**
 * For censored rows (a series still open at the window's end, no cheaper price seen
 * yet): the probability that a cheaper price, if one comes at all, would already have
 * shown within the part of the future that was observed. Estimated from the complete
 * series in `fitRows`: when a cheaper price came, how far into the remaining days it
 * came, per days-before bucket. 0 for every other row. Training uses it in a mixture
 * cure likelihood, so open series count without being taken for complete.
 */
export function censoredExposure(
  ds: FeatureDataset,
  labels: Labels,
  fitRows: ArrayLike<number>,
  bucketOf: (daysBefore: number) => number,
): Float32Array {
  const bucketCount = bucketOf(Number.MAX_SAFE_INTEGER) + 1;
  const histogram = Array.from({ length: bucketCount }, () => new Float64Array(EXPOSURE_BINS + 1));
  const positionInSeries = new Map<number, number>();
  const fit = new Set<number>(Array.from(fitRows));
  ds.rowsOfSeries.forEach((rows, s) => {
    if (!labels.complete[s]) return;
    rows.forEach((i, k) => positionInSeries.set(i, k));
  });
  for (const i of fit) {
    if (labels.cheaperLater[i] !== 1) continue;
    const s = ds.series[i];
    const rows = ds.rowsOfSeries[s];
    const k = positionInSeries.get(i);
    if (k === undefined) continue;
    const d = Math.max(1, ds.daysBefore[i]);
    for (let j = k + 1; j <= labels.lastInWindow[s]; j++) {
      if (ds.price[rows[j]] < ds.price[i]) {
        const fraction = Math.min(1, (ds.time[rows[j]] - ds.time[i]) / DAY_MS / d);
        histogram[bucketOf(d)][Math.min(EXPOSURE_BINS, Math.floor(fraction * EXPOSURE_BINS))]++;
        break;
      }
    }
  }
  // Cumulative share of drops by the end of each bin; buckets without data borrow the overall shape.
  const overall = new Float64Array(EXPOSURE_BINS + 1);
  for (const h of histogram) for (let b = 0; b <= EXPOSURE_BINS; b++) overall[b] += h[b];
  const cdf = (h: Float64Array) => {
    const total = h.reduce((a, b) => a + b, 0);
    const out = new Float64Array(EXPOSURE_BINS + 1);
    let running = 0;
    for (let b = 0; b <= EXPOSURE_BINS; b++) {
      running += h[b];
      out[b] = total > 0 ? running / total : (b + 1) / (EXPOSURE_BINS + 1);
    }
    return out;
  };
  const overallCdf = cdf(overall);
  const cdfs = histogram.map((h) => (h.reduce((a, b) => a + b, 0) >= 50 ? cdf(h) : overallCdf));

  const exposure = new Float32Array(ds.size);
  ds.rowsOfSeries.forEach((rows, s) => {
    if (labels.complete[s]) return;
    const last = labels.lastInWindow[s];
    if (last < 0) return;
    const lastTime = ds.time[rows[last]];
    for (let k = 0; k <= last; k++) {
      const i = rows[k];
      if (!Number.isNaN(labels.cheaperLater[i])) continue;
      const d = Math.max(1, ds.daysBefore[i]);
      const fraction = Math.min(1, (lastTime - ds.time[i]) / DAY_MS / d);
      // The bin holding `fraction` is only partly covered: take the CDF of the bin before it.
      const bin = Math.floor(fraction * EXPOSURE_BINS) - 1;
      exposure[i] = bin < 0 ? 0 : Math.min(MAX_EXPOSURE, cdfs[bucketOf(d)][bin]);
    }
  });
  return exposure;
}
