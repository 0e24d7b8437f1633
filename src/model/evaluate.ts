import type { FeatureDataset, Labels } from './dataset.js';

/**
 * The policy simulation of the backtest, after Etzioni et al. (2003), "To buy or not
 * to buy": simulated passengers start on a day before departure, a policy decides each
 * day from what is known that day to buy or to wait, and must buy on the last day.
 */

/** Passengers start on days with this many days before departure. */
export const PASSENGER_DAYS = { min: 2, max: 35 } as const;

/** One simulated passenger: a series and the position (in its rows) of the start day. */
export interface Passenger {
  series: number;
  start: number;
  /** Position of the series' last observed row within the window: the forced purchase. */
  last: number;
}

/** Event-time range [from, to) of start days, and the window whose labels apply. */
export interface PassengerSlice {
  from: number;
  to: number;
}

/**
 * Every passenger of a slice: one per observed day s in [from, to) with 2–35 days
 * before departure, in a series observed down to ≤ 1 day before departure within
 * the labels' window.
 */
export function passengersOf(ds: FeatureDataset, labels: Labels, slice: PassengerSlice): Passenger[] {
  const out: Passenger[] = [];
  ds.rowsOfSeries.forEach((rows, s) => {
    if (!labels.complete[s]) return;
    const last = labels.lastInWindow[s];
    for (let k = 0; k < last; k++) {
      const i = rows[k];
      const t = ds.time[i];
      if (t < slice.from || t >= slice.to) continue;
      const d = ds.daysBefore[i];
      if (d < PASSENGER_DAYS.min || d > PASSENGER_DAYS.max) continue;
      out.push({ series: s, start: k, last });
    }
  });
  return out;
}

/** The start rows of passengers: where buy/wait classification quality is measured. */
export function startRows(ds: FeatureDataset, passengers: readonly Passenger[]): Int32Array {
  return Int32Array.from(passengers, (p) => ds.rowsOfSeries[p.series][p.start]);
}

/** What a policy achieved for a set of passengers. */
export interface PolicyResult {
  passengers: number;
  /** Σ(price on day s − price paid) / Σ(price on day s − lowest price from s on), in %. */
  savingsPctOfOptimal: number | null;
  /** Mean of (price on day s − price paid) / price on day s, in %. */
  meanSavingPct: number | null;
  /** Share of passengers who paid more than on day s, in %. */
  paidMorePct: number | null;
  /** Their mean loss, as % of the day-s price. */
  paidMoreMeanLossPct: number | null;
}

/** What one passenger paid under a policy, against the price on day s and the lowest price to come. */
function outcomeOf(ds: FeatureDataset, p: Passenger, wait: Uint8Array): { startPrice: number; paid: number; lowest: number } {
  const rows = ds.rowsOfSeries[p.series];
  const startPrice = ds.price[rows[p.start]];
  let paid = startPrice;
  let lowest = Infinity;
  let bought = false;
  for (let k = p.start; k <= p.last; k++) {
    const price = ds.price[rows[k]];
    if (price < lowest) lowest = price;
    if (!bought && (k === p.last || !wait[rows[k]])) {
      paid = price;
      bought = true;
    }
  }
  return { startPrice, paid, lowest };
}

/**
 * Runs a policy: `wait[row]` = 1 means "wait" on that row's day. The passenger buys on
 * the first day from s on where the policy says buy, or on the series' last day.
 */
export function simulate(ds: FeatureDataset, passengers: readonly Passenger[], wait: Uint8Array): PolicyResult {
  let saved = 0;
  let optimal = 0;
  let savingShare = 0;
  let paidMore = 0;
  let lossShare = 0;
  for (const p of passengers) {
    const { startPrice, paid, lowest } = outcomeOf(ds, p, wait);
    saved += startPrice - paid;
    optimal += startPrice - lowest;
    savingShare += (startPrice - paid) / startPrice;
    if (paid > startPrice) {
      paidMore++;
      lossShare += (paid - startPrice) / startPrice;
    }
  }
  const n = passengers.length;
  return {
    passengers: n,
    savingsPctOfOptimal: optimal > 0 ? (100 * saved) / optimal : null,
    meanSavingPct: n > 0 ? (100 * savingShare) / n : null,
    paidMorePct: n > 0 ? (100 * paidMore) / n : null,
    paidMoreMeanLossPct: paidMore > 0 ? (100 * lossShare) / paidMore : null,
  };
}

/** Per passenger: what the policy saved against buying on day s, and what the oracle would have. */
export function passengerSavings(
  ds: FeatureDataset,
  passengers: readonly Passenger[],
  wait: Uint8Array,
): { saved: Float64Array; optimal: Float64Array } {
  const saved = new Float64Array(passengers.length);
  const optimal = new Float64Array(passengers.length);
  passengers.forEach((p, j) => {
    const { startPrice, paid, lowest } = outcomeOf(ds, p, wait);
    saved[j] = startPrice - paid;
    optimal[j] = startPrice - lowest;
  });
  return { saved, optimal };
}

/** Wait flags of the fixed rule "wait while more than k days before departure". */
export function fixedRule(ds: FeatureDataset, k: number): Uint8Array {
  const wait = new Uint8Array(ds.size);
  for (let i = 0; i < ds.size; i++) wait[i] = ds.daysBefore[i] > k ? 1 : 0;
  return wait;
}

/** Wait flags of the oracle: wait exactly when a cheaper price comes later. */
export function oracleRule(labels: Labels): Uint8Array {
  return Uint8Array.from(labels.cheaperLater, (y) => (y === 1 ? 1 : 0));
}

/** Wait flags of "wait while the probability of a cheaper price exceeds `threshold`". */
export function thresholdRule(probability: Float32Array, threshold: number): Uint8Array {
  const wait = new Uint8Array(probability.length);
  for (let i = 0; i < probability.length; i++) wait[i] = probability[i] > threshold ? 1 : 0;
  return wait;
}

/**
 * The rows a simulation of these passengers reads: each one's days from its start to
 * its purchase. Evaluation predicts only these.
 */
export function passengerRows(ds: FeatureDataset, ...groups: readonly (readonly Passenger[])[]): Int32Array {
  const used = new Uint8Array(ds.size);
  for (const passengers of groups) {
    for (const p of passengers) {
      const rows = ds.rowsOfSeries[p.series];
      for (let k = p.start; k <= p.last; k++) used[rows[k]] = 1;
    }
  }
  let count = 0;
  for (let i = 0; i < ds.size; i++) count += used[i];
  const out = new Int32Array(count);
  for (let i = 0, j = 0; i < ds.size; i++) if (used[i]) out[j++] = i;
  return out;
}

/** Area under the ROC curve of `score` for binary `label` (rows with NaN labels skipped). */
export function auc(score: ArrayLike<number>, label: ArrayLike<number>, rows: ArrayLike<number>): number | null {
  const items: { s: number; y: number }[] = [];
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r];
    const y = label[i];
    if (y === 0 || y === 1) items.push({ s: score[i], y });
  }
  const positives = items.reduce((n, x) => n + x.y, 0);
  const negatives = items.length - positives;
  if (positives === 0 || negatives === 0) return null;
  items.sort((a, b) => a.s - b.s);
  // Mann-Whitney U with average ranks for ties.
  let rankSum = 0;
  for (let i = 0; i < items.length; ) {
    let j = i;
    while (j + 1 < items.length && items[j + 1].s === items[i].s) j++;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) if (items[k].y === 1) rankSum += rank;
    i = j + 1;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Quality of the model's two outputs on a set of rows. */
export interface PredictionQuality {
  rows: number;
  auc: number | null;
  /** Accuracy of "cheaper later" at probability 0.5, in %. */
  accuracyPct: number | null;
  /** Mean |predicted − actual| lowest price, as % of the current price (median prediction). */
  lowestPriceMaePct: number | null;
  /** Share of rows whose actual lowest price lies in the predicted 80% interval, in %. */
  intervalCoveragePct: number | null;
}

/** Scores predictions against labels on the given rows. */
export function predictionQuality(
  labels: Labels,
  rows: ArrayLike<number>,
  predictions: { probability: Float32Array; q10: Float32Array; q50: Float32Array; q90: Float32Array },
): PredictionQuality {
  const clamp = (x: number) => Math.min(1, Math.max(0.01, x));
  let classified = 0;
  let correct = 0;
  let ratioRows = 0;
  let absError = 0;
  let covered = 0;
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r];
    const y = labels.cheaperLater[i];
    if (y === 0 || y === 1) {
      classified++;
      if ((predictions.probability[i] > 0.5 ? 1 : 0) === y) correct++;
    }
    const ratio = labels.lowestRatio[i];
    if (Number.isFinite(ratio)) {
      ratioRows++;
      absError += Math.abs(clamp(predictions.q50[i]) - ratio);
      // A tolerance for float32 rounding: ratios of 1 sit exactly on a clamped q90 of 1.
      if (clamp(predictions.q10[i]) <= ratio + 1e-6 && ratio <= clamp(predictions.q90[i]) + 1e-6) covered++;
    }
  }
  return {
    rows: rows.length,
    auc: auc(predictions.probability, labels.cheaperLater, rows),
    accuracyPct: classified > 0 ? (100 * correct) / classified : null,
    lowestPriceMaePct: ratioRows > 0 ? (100 * absError) / ratioRows : null,
    intervalCoveragePct: ratioRows > 0 ? (100 * covered) / ratioRows : null,
  };
}
