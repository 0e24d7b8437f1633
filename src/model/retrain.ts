import type { FareEvent } from '../events/fare-event.js';
import {
  incompatibility,
  loadModel,
  newVersion,
  readModelMeta,
  readPointer,
  saveModel,
  writePointer,
  type ModelMeta,
} from './artifacts.js';
import {
  evaluateModel,
  evaluationRows,
  predictDatasetWith,
  splitDataset,
  trainChallenger,
  type ChallengerOptions,
  type ModelEvaluation,
} from './backtest.js';
import { buildDataset, sortByEventTime } from './dataset.js';
import { FEATURE_NAMES, FEATURE_VERSION } from './features.js';
import { initTensorflow } from './tf.js';

/**
 * One retrain: replay the events, train a challenger on everything before the most
 * recent held-out slice, judge it and the serving model on that slice with the
 * backtest's policy simulation, save it, and promote it only if it is better.
 * Runs in a child process (see retrain-runner.ts); never throws: a failure is an outcome.
 */

const DAY_MS = 86_400_000;

/** Fewer fare events than this and a retrain fails: there is too little to learn from. */
export const DEFAULT_MIN_EVENTS = 1000;

export type RetrainStatus = 'promoted' | 'rejected' | 'failed';

/** The event time a retrain learnt from (ISO). */
export interface RetrainWindow {
  from: string | null;
  to: string | null;
  /** Start of the held-out slice; the challenger trained only on what was known before it. */
  holdoutFrom: string | null;
  events: number;
}

/** What a retrain did, as the models table records it. */
export interface RetrainOutcome {
  version: string;
  createdAt: number;
  status: RetrainStatus;
  reason: string;
  decision: string;
  window: RetrainWindow;
  metrics: Record<string, unknown>;
  error: string | null;
}

export interface RetrainJob {
  modelsDir: string;
  /** Why it runs: shown in the models list. */
  reason: string;
  /** Days at the end of the window held out to judge challenger and serving model (default 14). */
  holdoutDays?: number;
  /** Days of departures before the holdout used for early stopping and tuning (default 21). */
  validationDays?: number;
  train?: ChallengerOptions;
  /** Fewer fare events than this fail the retrain (default 1000). */
  minEvents?: number;
  /** A fixed version name instead of a fresh one. */
  version?: string;
  /** The tfjs backend to start with (default: the fastest available). */
  backend?: 'tensorflow' | 'wasm' | 'cpu';
}

export type RetrainPhase = 'features' | 'training' | 'evaluating' | 'saving';

export interface RetrainProgress {
  phase: RetrainPhase;
  epoch?: number;
  maxEpochs?: number;
  loss?: number;
  validationLoss?: number | null;
  /** Which training run: the early-stopped one, or the refit on training + validation data. */
  run?: 'fit' | 'refit';
}

/** The figures a promotion decision compares. */
export interface HoldoutScore {
  savingsPctOfOptimal: number | null;
  auc: number | null;
}

/** Savings within this many percentage points count as a tie, broken by AUC. */
export const SAVINGS_TIE_PP = 0.1;

/**
 * Whether a challenger replaces the serving model: only when it saves more on the
 * held-out slice (savings as % of optimal), with AUC breaking a tie. Without a serving
 * model (or one that cannot be evaluated) any challenger with figures is promoted.
 */
export function decidePromotion(
  challenger: HoldoutScore,
  incumbent: HoldoutScore | null,
  incumbentProblem?: string,
): { promote: boolean; decision: string } {
  const fmt = (x: number | null, digits = 1) => (x === null ? 'n/a' : x.toFixed(digits));
  if (!incumbent) {
    return {
      promote: true,
      decision: incumbentProblem
        ? `promoted: the serving model could not be evaluated (${incumbentProblem})`
        : 'promoted: there was no serving model',
    };
  }
  const a = challenger.savingsPctOfOptimal;
  const b = incumbent.savingsPctOfOptimal;
  const summary = `savings ${fmt(a)}% vs ${fmt(b)}% of optimal, AUC ${fmt(challenger.auc, 3)} vs ${fmt(incumbent.auc, 3)}`;
  if (a === null || b === null) {
    return { promote: false, decision: `rejected: the held-out slice has no passengers to compare on (${summary})` };
  }
  if (a > b + SAVINGS_TIE_PP) return { promote: true, decision: `promoted: it saves more (${summary})` };
  if (a < b - SAVINGS_TIE_PP) return { promote: false, decision: `rejected: it saves less (${summary})` };
  const better = (challenger.auc ?? -Infinity) > (incumbent.auc ?? -Infinity);
  return better
    ? { promote: true, decision: `promoted: savings tie, higher AUC (${summary})` }
    : { promote: false, decision: `rejected: savings tie, AUC not higher (${summary})` };
}

function flatMetrics(prefix: string, evaluation: ModelEvaluation): Record<string, number | null> {
  return {
    [`${prefix}_savings_pct_of_optimal`]: evaluation.policy.savingsPctOfOptimal,
    [`${prefix}_mean_saving_pct`]: evaluation.policy.meanSavingPct,
    [`${prefix}_paid_more_pct`]: evaluation.policy.paidMorePct,
    [`${prefix}_passengers`]: evaluation.policy.passengers,
    [`${prefix}_auc`]: evaluation.quality.auc,
    [`${prefix}_accuracy_pct`]: evaluation.quality.accuracyPct,
    [`${prefix}_lowest_price_mae_pct`]: evaluation.quality.lowestPriceMaePct,
    [`${prefix}_interval_coverage_pct`]: evaluation.quality.intervalCoveragePct,
  };
}

function summary(evaluation: ModelEvaluation) {
  return {
    waitThreshold: evaluation.waitThreshold,
    ...evaluation.policy,
    ...evaluation.quality,
  };
}

const iso = (t: number | undefined) => (t === undefined || !Number.isFinite(t) ? null : new Date(t).toISOString());

/** Runs one retrain on `events` (any order). Resolves to its outcome; failures included. */
export async function runRetrainJob(
  events: readonly FareEvent[],
  job: RetrainJob,
  onProgress: (progress: RetrainProgress) => void = () => {},
): Promise<RetrainOutcome> {
  const createdAt = Date.now();
  const version = job.version ?? newVersion(new Date(createdAt));
  const window: RetrainWindow = { from: null, to: null, holdoutFrom: null, events: events.length };
  const base = { version, createdAt, reason: job.reason, window };
  try {
    const backend = await initTensorflow({ prefer: job.backend });
    const minEvents = job.minEvents ?? DEFAULT_MIN_EVENTS;
    if (events.length < minEvents) throw new Error(`only ${events.length} fare events; a retrain needs at least ${minEvents}`);

    onProgress({ phase: 'features' });
    const ds = buildDataset(sortByEventTime(events));
    let from = Infinity;
    let to = -Infinity;
    for (let i = 0; i < ds.size; i++) {
      if (ds.time[i] < from) from = ds.time[i];
      if (ds.time[i] > to) to = ds.time[i];
    }
    const holdoutFrom = to - (job.holdoutDays ?? 14) * DAY_MS;
    Object.assign(window, { from: iso(from), to: iso(to), holdoutFrom: iso(holdoutFrom) });
    const split = splitDataset(ds, { cutoff: holdoutFrom, validationDays: job.validationDays, windowEnd: to });

    onProgress({ phase: 'training' });
    let run: 'fit' | 'refit' = 'fit';
    const challenger = await trainChallenger(split, {
      ...job.train,
      onEpoch: (e) => {
        if (run === 'fit' && e.validationLoss === null) run = 'refit';
        onProgress({ phase: 'training', run, epoch: e.epoch, maxEpochs: e.maxEpochs, loss: e.trainLoss, validationLoss: e.validationLoss });
      },
    });
    const { training } = challenger;

    onProgress({ phase: 'evaluating' });
    const challengerEval = evaluateModel(split, challenger.predictions, challenger.waitThreshold);
    let incumbentEval: ModelEvaluation | null = null;
    let incumbentProblem: string | undefined;
    const servingVersion = await readPointer(job.modelsDir).catch(() => undefined);
    if (servingVersion) {
      try {
        const meta = await readModelMeta(job.modelsDir, servingVersion);
        const reason = incompatibility(meta);
        if (reason) {
          incumbentProblem = reason;
        } else {
          const incumbent = await loadModel(job.modelsDir, servingVersion);
          try {
            incumbentEval = evaluateModel(split, predictDatasetWith(incumbent, ds, evaluationRows(split)), incumbent.meta.decision.waitThreshold);
          } finally {
            incumbent.dispose();
          }
        }
      } catch (error) {
        incumbentProblem = error instanceof Error ? error.message : String(error);
      }
    }
    const { promote, decision } = decidePromotion(
      { savingsPctOfOptimal: challengerEval.policy.savingsPctOfOptimal, auc: challengerEval.quality.auc },
      incumbentEval && { savingsPctOfOptimal: incumbentEval.policy.savingsPctOfOptimal, auc: incumbentEval.quality.auc },
      incumbentProblem,
    );

    onProgress({ phase: 'saving' });
    const meta: ModelMeta = {
      format: 1,
      version,
      trainedAt: new Date().toISOString(),
      featureVersion: FEATURE_VERSION,
      featureNames: [...FEATURE_NAMES],
      normalization: training.normalization,
      architecture: { hidden: [...training.options.hidden], dropout: training.options.dropout, l2: training.options.l2 },
      window: {
        from: window.from,
        to: iso(split.cutoff - 1),
        events: events.length,
        trainingRows: split.trainRows.length + split.validationRows.length,
        validationFrom: iso(split.validationFrom),
      },
      training: {
        epochs: training.epochs,
        bestEpoch: training.bestEpoch,
        trainLoss: training.trainLoss,
        validationLoss: training.validationLoss,
        seconds: Math.round(training.seconds * 10) / 10,
      },
      decision: { waitThreshold: challenger.waitThreshold },
      calibration: { intervalScale: challenger.intervalScale },
      metrics: flatMetrics('holdout', challengerEval),
      backend,
    };
    try {
      await saveModel(job.modelsDir, training.network, meta);
      if (promote) await writePointer(job.modelsDir, version);
    } finally {
      training.network.dispose();
    }
    return {
      ...base,
      status: promote ? 'promoted' : 'rejected',
      decision,
      metrics: {
        challenger: summary(challengerEval),
        incumbent: incumbentEval ? { version: servingVersion, ...summary(incumbentEval) } : null,
        incumbentProblem: incumbentProblem ?? null,
        training: { ...meta.training, rows: meta.window.trainingRows },
        backend,
      },
      error: null,
    };
  } catch (error) {
    return {
      ...base,
      status: 'failed',
      decision: 'failed: the serving model is unchanged',
      metrics: {},
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    };
  }
}
