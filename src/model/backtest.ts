import type { FareEvent } from '../events/fare-event.js';
import { finishQuantiles, predictRaw, type RawPredictions } from './artifacts.js';
import { buildDataset, censoredExposure, labelDataset, type FeatureDataset, type Labels } from './dataset.js';
import { bucketOf } from './features.js';
import {
  fixedRule,
  oracleRule,
  passengerRows,
  passengerSavings,
  passengersOf,
  predictionQuality,
  simulate,
  startRows,
  thresholdRule,
  PASSENGER_DAYS,
  type Passenger,
  type PolicyResult,
  type PredictionQuality,
} from './evaluate.js';
import { averageNetworks } from './network.js';
import { gatherNormalized, trainNetwork, type Normalization, type TrainOptions, type TrainResult } from './train.js';
import { tf } from './tf.js';

const DAY_MS = 86_400_000;

/**
 * The backtest: train on what was searched before a cutoff, then let simulated
 * passengers after the cutoff follow each policy. The same split evaluates a retrain's
 * challenger against the serving model on the most recent slice of event time.
 */

export interface BacktestSplit {
  ds: FeatureDataset;
  /** Labels knowable before the cutoff: for training and tuning. */
  trainLabels: Labels;
  /** Labels knowable by the end of the window: for evaluation. */
  evalLabels: Labels;
  cutoff: number;
  /** Series departing from here to the cutoff are the validation set (early stopping, tuning). */
  validationFrom: number;
  dataFrom: number;
  dataTo: number;
  trainRows: Int32Array;
  validationRows: Int32Array;
  trainPassengers: Passenger[];
  validationPassengers: Passenger[];
  evalPassengers: Passenger[];
}

export interface SplitOptions {
  cutoff: number;
  /** Series departing within this many days before the cutoff form the validation set. */
  validationDays?: number;
  /** Labels of the evaluation look no further than this (default: the last event). */
  windowEnd?: number;
  /**
   * What training does with series still open at the cutoff. 'cure' (default): their
   * rows count through a censored likelihood ({@link censoredExposure}); 'drop': only
   * complete series train. Taking their labels at face value would bias the model
   * towards waiting, as only their positives are known.
   */
  censored?: 'cure' | 'drop';
  /** Leave out rows further than this from departure: no passenger decides there. */
  maxDaysBefore?: number;
}

export const DEFAULT_VALIDATION_DAYS = 21;
export const DEFAULT_MAX_TRAINING_DAYS_BEFORE = 90;

/** Replays the events and splits rows and passengers at the cutoff. `events` must be in event-time order. */
export function splitAt(events: readonly FareEvent[], options: SplitOptions): BacktestSplit {
  return splitDataset(buildDataset(events), options);
}

/**
 * Splits a dataset in time. Training and tuning use only rows observed before the
 * cutoff, labelled with what was known then; validation is the series that departed
 * in the last `validationDays` before it, so validation passengers have every horizon.
 * Evaluation passengers start on or after the cutoff.
 */
export function splitDataset(ds: FeatureDataset, options: SplitOptions): BacktestSplit {
  const cutoff = options.cutoff;
  const validationFrom = cutoff - (options.validationDays ?? DEFAULT_VALIDATION_DAYS) * DAY_MS;
  const censored = options.censored ?? 'cure';
  const maxDaysBefore = options.maxDaysBefore ?? DEFAULT_MAX_TRAINING_DAYS_BEFORE;
  let dataFrom = Infinity;
  let dataTo = -Infinity;
  for (let i = 0; i < ds.size; i++) {
    if (ds.time[i] < dataFrom) dataFrom = ds.time[i];
    if (ds.time[i] > dataTo) dataTo = ds.time[i];
  }
  const windowEnd = options.windowEnd ?? dataTo;
  // Training labels may only use what was observed before the cutoff.
  const trainLabels = labelDataset(ds, cutoff - 1);
  const evalLabels = labelDataset(ds, windowEnd);
  const trainRows: number[] = [];
  const validationRows: number[] = [];
  const isValidation = (s: number) => ds.departure[s] >= validationFrom && ds.departure[s] < cutoff;
  ds.rowsOfSeries.forEach((rows, s) => {
    if (censored === 'drop' && !trainLabels.complete[s]) return;
    const target = isValidation(s) ? validationRows : trainRows;
    for (const i of rows) {
      if (ds.time[i] >= cutoff) break;
      if (ds.daysBefore[i] <= maxDaysBefore) target.push(i);
    }
  });
  if (censored === 'cure') trainLabels.exposure = censoredExposure(ds, trainLabels, trainRows, bucketOf);
  const tuning = passengersOf(ds, trainLabels, { from: -Infinity, to: cutoff });
  return {
    ds,
    trainLabels,
    evalLabels,
    cutoff,
    validationFrom,
    dataFrom,
    dataTo,
    trainRows: Int32Array.from(trainRows),
    validationRows: Int32Array.from(validationRows),
    trainPassengers: tuning.filter((p) => !isValidation(p.series)),
    validationPassengers: tuning.filter((p) => isValidation(p.series)),
    evalPassengers: passengersOf(ds, evalLabels, { from: cutoff, to: windowEnd + 1 }),
  };
}

/** Chooses the k of "wait while more than k days before departure" that saves most on these passengers. */
export function tuneFixedRule(ds: FeatureDataset, passengers: readonly Passenger[]): { k: number; result: PolicyResult } {
  let best: { k: number; result: PolicyResult } | undefined;
  for (let k = 0; k <= PASSENGER_DAYS.max; k++) {
    const result = simulate(ds, passengers, fixedRule(ds, k));
    if (!best || (result.savingsPctOfOptimal ?? -Infinity) > (best.result.savingsPctOfOptimal ?? -Infinity)) best = { k, result };
  }
  return best!;
}

export const THRESHOLD_GRID = Array.from({ length: 13 }, (_, i) => 0.2 + i * 0.05);

/** Resamples of the validation series that estimate how uncertain a threshold's savings are. */
const BOOTSTRAP_RESAMPLES = 200;

/** One threshold as the tuning scored it on the validation passengers. */
export interface ThresholdScore {
  threshold: number;
  /** Savings % of optimal at this threshold. */
  savings: number | null;
  /** Averaged with the neighbouring thresholds' (±0.05): the score compared. */
  smoothed: number | null;
}

/**
 * Chooses the wait threshold on these passengers. Savings swing a lot from one threshold
 * to the next and from one period to the next (a few passengers with big drops or rises
 * weigh much), so each threshold is scored by the mean savings over it and its neighbours
 * (±0.05), and the choice follows the one-standard-error rule: the threshold nearest 0.5
 * (where a calibrated model says "more likely than not") whose score is within one
 * standard error of the best one. The standard error comes from resampling the series
 * (a bootstrap: passengers of one series rise and fall together). Without passengers, 0.5.
 */
export function tuneThreshold(
  ds: FeatureDataset,
  passengers: readonly Passenger[],
  probability: Float32Array,
): { threshold: number; result: PolicyResult | null; standardError: number | null; scores: ThresholdScore[] } {
  const results = THRESHOLD_GRID.map((threshold) => simulate(ds, passengers, thresholdRule(probability, threshold)));
  const savings = results.map((r) => r.savingsPctOfOptimal);
  const rounded = (t: number) => Math.round(t * 100) / 100;
  if (savings.some((x) => x === null)) {
    return {
      threshold: 0.5,
      result: null,
      standardError: null,
      scores: THRESHOLD_GRID.map((threshold) => ({ threshold: rounded(threshold), savings: null, smoothed: null })),
    };
  }
  const smooth = (values: readonly number[]) =>
    values.map((_, k) => {
      const window = [k - 1, k, k + 1].filter((j) => j >= 0 && j < values.length).map((j) => values[j]);
      return window.reduce((a, b) => a + b, 0) / window.length;
    });
  const smoothed = smooth(savings as number[]);
  let best = 0;
  smoothed.forEach((score, k) => {
    if (score > smoothed[best] + 1e-9) best = k;
  });

  // Savings and oracle savings per series and threshold, then series drawn with replacement.
  const seriesIndex = new Map<number, number>();
  for (const p of passengers) if (!seriesIndex.has(p.series)) seriesIndex.set(p.series, seriesIndex.size);
  const seriesCount = seriesIndex.size;
  const savedBySeries = THRESHOLD_GRID.map((threshold) => {
    const { saved } = passengerSavings(ds, passengers, thresholdRule(probability, threshold));
    const bySeries = new Float64Array(seriesCount);
    passengers.forEach((p, j) => (bySeries[seriesIndex.get(p.series)!] += saved[j]));
    return bySeries;
  });
  const optimalBySeries = new Float64Array(seriesCount);
  const { optimal } = passengerSavings(ds, passengers, new Uint8Array(ds.size));
  passengers.forEach((p, j) => (optimalBySeries[seriesIndex.get(p.series)!] += optimal[j]));
  let state = 0x9e3779b9;
  const draw = () => {
    // xorshift32: a fixed sequence, so the choice is reproducible.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % seriesCount;
  };
  const bestScores: number[] = [];
  const counts = new Float64Array(seriesCount);
  for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
    counts.fill(0);
    for (let k = 0; k < seriesCount; k++) counts[draw()]++;
    let optimalSum = 0;
    for (let s = 0; s < seriesCount; s++) optimalSum += counts[s] * optimalBySeries[s];
    if (optimalSum <= 0) continue;
    const resampled = savedBySeries.map((bySeries) => {
      let sum = 0;
      for (let s = 0; s < seriesCount; s++) sum += counts[s] * bySeries[s];
      return (100 * sum) / optimalSum;
    });
    bestScores.push(smooth(resampled)[best]);
  }
  const mean = bestScores.reduce((a, b) => a + b, 0) / Math.max(1, bestScores.length);
  const standardError = Math.sqrt(bestScores.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, bestScores.length - 1));

  let chosen = best;
  smoothed.forEach((score, k) => {
    if (score < smoothed[best] - standardError) return;
    const distance = Math.abs(THRESHOLD_GRID[k] - 0.5);
    const chosenDistance = Math.abs(THRESHOLD_GRID[chosen] - 0.5);
    if (distance < chosenDistance - 1e-9 || (Math.abs(distance - chosenDistance) <= 1e-9 && score > smoothed[chosen])) chosen = k;
  });
  return {
    threshold: rounded(THRESHOLD_GRID[chosen]),
    result: results[chosen],
    standardError,
    scores: THRESHOLD_GRID.map((threshold, k) => ({ threshold: rounded(threshold), savings: savings[k], smoothed: smoothed[k] })),
  };
}

/**
 * Predictions by a network and its normalisation for `rows` of the dataset (default:
 * every row); rows left out are NaN.
 */
export function predictDataset(network: tf.LayersModel, ds: FeatureDataset, norm: Normalization, rows?: Int32Array): RawPredictions {
  if (!rows) return predictRaw(network, gatherNormalized(ds, Int32Array.from({ length: ds.size }, (_, i) => i), norm), ds.width);
  const some = predictRaw(network, gatherNormalized(ds, rows, norm), ds.width);
  const all: RawPredictions = {
    probability: new Float32Array(ds.size).fill(Number.NaN),
    q10: new Float32Array(ds.size).fill(Number.NaN),
    q50: new Float32Array(ds.size).fill(Number.NaN),
    q90: new Float32Array(ds.size).fill(Number.NaN),
  };
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r];
    all.probability[i] = some.probability[r];
    all.q10[i] = some.q10[r];
    all.q50[i] = some.q50[r];
    all.q90[i] = some.q90[r];
  }
  return all;
}

/** Predictions for `rows` (default all) by anything that predicts from raw vectors (a loaded FareModel). */
export function predictDatasetWith(
  model: { meta: { normalization: Normalization; calibration?: { intervalScale: number } }; network: tf.LayersModel },
  ds: FeatureDataset,
  rows?: Int32Array,
): RawPredictions {
  return finishQuantiles(predictDataset(model.network, ds, model.meta.normalization, rows), model.meta.calibration?.intervalScale ?? 1);
}

/** The rows evaluation reads: the days of the validation and evaluation passengers. */
export function evaluationRows(split: BacktestSplit): Int32Array {
  return passengerRows(split.ds, split.validationPassengers, split.evalPassengers);
}

/** The 80% interval's target coverage, and the scales tried to reach it. */
const TARGET_COVERAGE_PCT = 80;
const INTERVAL_SCALES = Array.from({ length: 36 }, (_, i) => Math.round((0.5 + i * 0.1) * 10) / 10);

/**
 * The narrowest scaling of the predicted interval (from 0.5× to 4×) that covers 80% of the actual
 * lowest prices on these rows, after {@link finishQuantiles} (1 when there is nothing to check).
 */
export function calibrateIntervals(labels: Labels, rows: ArrayLike<number>, raw: RawPredictions): number {
  for (const scale of INTERVAL_SCALES) {
    const scaled = finishQuantiles(
      { probability: raw.probability, q10: Float32Array.from(raw.q10), q50: Float32Array.from(raw.q50), q90: Float32Array.from(raw.q90) },
      scale,
    );
    const coverage = predictionQuality(labels, rows, scaled).intervalCoveragePct;
    if (coverage === null) return 1;
    if (coverage >= TARGET_COVERAGE_PCT) return scale;
  }
  return INTERVAL_SCALES[INTERVAL_SCALES.length - 1];
}

/** A trained challenger with its decision rule and interval calibration. */
export interface Challenger {
  training: TrainResult;
  /** The model's rule: wait while P(cheaper later) exceeds it (see {@link ChallengerOptions.tuneThreshold}). */
  waitThreshold: number;
  /** The threshold the validation passengers suggest ({@link tuneThreshold}), used or not. */
  tunedThreshold: number;
  /** See {@link calibrateIntervals}; already applied to `predictions`. */
  intervalScale: number;
  predictions: RawPredictions;
  /** Savings on the validation passengers per threshold tried, as the tuning saw them. */
  thresholdScores: ThresholdScore[];
  /** The bootstrap standard error of the best threshold's score (see {@link tuneThreshold}). */
  thresholdStandardError: number | null;
}

export interface ChallengerOptions extends TrainOptions {
  /**
   * After early stopping and tuning on the validation series, train fresh networks on
   * training and validation rows together for the epochs found (default true): the
   * validation series are the most recent complete ones, too valuable to leave out.
   */
  refit?: boolean;
  /** Networks (different seeds) averaged into the final model (default {@link DEFAULT_ENSEMBLE}). Needs refit. */
  ensemble?: number;
  /**
   * Take the wait threshold the validation passengers suggest instead of 0.5 (default
   * false). The validation departures are the three weeks before the cutoff, another
   * season than the weeks after it: on the Wizz data their savings curve kept rising
   * towards "never wait" for some seeds while the same models did best at 0.45–0.55
   * after the cutoff. 0.5 is where the model says a cheaper fare is more likely than not.
   */
  tuneThreshold?: boolean;
}

/** The wait threshold unless tuned: a cheaper fare more likely than not. */
export const DEFAULT_WAIT_THRESHOLD = 0.5;

/** Networks averaged into a model unless told otherwise: three cut the seed-to-seed swings. */
export const DEFAULT_ENSEMBLE = 3;

/** Trains on the rows before the cutoff, stopping early and calibrating on the validation series. */
export async function trainChallenger(split: BacktestSplit, options: ChallengerOptions = {}): Promise<Challenger> {
  const { refit = true, ensemble = DEFAULT_ENSEMBLE, tuneThreshold: useTuned = false, ...trainOptions } = options;
  const first = await trainNetwork(split.ds, split.trainLabels, split.trainRows, split.validationRows, trainOptions);
  const rows = evaluationRows(split);
  const firstPredictions = predictDataset(first.network, split.ds, first.normalization, rows);
  const tuned = tuneThreshold(split.ds, split.validationPassengers, firstPredictions.probability);
  const waitThreshold = useTuned ? tuned.threshold : DEFAULT_WAIT_THRESHOLD;
  // Calibrated where decisions are made: the validation passengers' start days.
  const intervalScale = calibrateIntervals(split.trainLabels, startRows(split.ds, split.validationPassengers), firstPredictions);
  if (!refit || split.validationRows.length === 0) {
    return {
      training: first,
      waitThreshold,
      tunedThreshold: tuned.threshold,
      intervalScale,
      predictions: finishQuantiles(firstPredictions, intervalScale),
      thresholdScores: tuned.scores,
      thresholdStandardError: tuned.standardError,
    };
  }
  first.network.dispose();
  const all = Int32Array.from([...split.trainRows, ...split.validationRows]);
  const seed = first.options.seed;
  const members: TrainResult[] = [];
  try {
    for (let k = 0; k < Math.max(1, ensemble); k++) {
      members.push(
        await trainNetwork(split.ds, split.trainLabels, all, new Int32Array(0), {
          ...trainOptions,
          seed: seed + 7919 * k,
          name: ensemble > 1 ? `member_${k + 1}` : undefined,
          maxEpochs: Math.max(1, first.bestEpoch),
          patience: Number.MAX_SAFE_INTEGER,
        }),
      );
    }
  } catch (error) {
    members.forEach((m) => m.network.dispose());
    throw error;
  }
  const final = members[members.length - 1];
  const network = averageNetworks(
    members.map((m) => m.network),
    split.ds.width,
  );
  return {
    training: {
      ...final,
      network,
      bestEpoch: first.bestEpoch,
      validationLoss: first.validationLoss,
      seconds: first.seconds + members.reduce((sum, m) => sum + m.seconds, 0),
      options: { ...final.options, seed },
    },
    waitThreshold,
    tunedThreshold: tuned.threshold,
    intervalScale,
    predictions: finishQuantiles(predictDataset(network, split.ds, final.normalization, rows), intervalScale),
    thresholdScores: tuned.scores,
    thresholdStandardError: tuned.standardError,
  };
}

/** One row of the backtest table. */
export interface PolicyRow {
  policy: string;
  description: string;
  result: PolicyResult;
}

export interface ModelEvaluation {
  waitThreshold: number;
  policy: PolicyResult;
  quality: PredictionQuality;
}

/** Scores a model's predictions on the evaluation passengers with its wait threshold. */
export function evaluateModel(split: BacktestSplit, predictions: RawPredictions, waitThreshold: number): ModelEvaluation {
  return {
    waitThreshold,
    policy: simulate(split.ds, split.evalPassengers, thresholdRule(predictions.probability, waitThreshold)),
    quality: predictionQuality(split.evalLabels, startRows(split.ds, split.evalPassengers), predictions),
  };
}

/** The baselines of the backtest table: buy now, wait to the end, the best fixed rule, the oracle. */
export function baselineRows(split: BacktestSplit): PolicyRow[] {
  const { ds, evalPassengers } = split;
  const fixed = tuneFixedRule(ds, split.trainPassengers.concat(split.validationPassengers));
  return [
    { policy: 'buy-now', description: 'buy on day s', result: simulate(ds, evalPassengers, new Uint8Array(ds.size)) },
    {
      policy: 'wait-to-end',
      description: 'wait until the last observed day',
      result: simulate(ds, evalPassengers, new Uint8Array(ds.size).fill(1)),
    },
    {
      policy: 'fixed-rule',
      description:
        fixed.k >= PASSENGER_DAYS.max
          ? `best "wait while more than k days before departure" on training: k = ${fixed.k}, never wait`
          : `wait while more than ${fixed.k} days before departure (k tuned on training)`,
      result: simulate(ds, evalPassengers, fixedRule(ds, fixed.k)),
    },
    { policy: 'oracle', description: 'knows the future', result: simulate(ds, evalPassengers, oracleRule(split.evalLabels)) },
  ];
}

