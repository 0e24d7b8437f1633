/**
 * The contract between the model and the functions that serve it. The predict
 * function and the forecast API depend only on these types, never on tfjs.
 */

/** One model output row, for one feature vector. */
export interface Prediction {
  /** Probability that a strictly cheaper price appears later, before departure. */
  probabilityCheaperLater: number;
  /**
   * The lowest price from now to departure (the current price included) as a ratio of
   * the current price, so each value is in (0, 1]: the 10th, 50th and 90th percentiles.
   */
  lowestRatio: { q10: number; q50: number; q90: number };
}

/**
 * The quantiles of the lowest price's ratio as they follow from P(cheaper later) `p`: the lowest
 * price to come is today's unless a cheaper one appears, so the ratio is exactly 1 with probability
 * 1 − p, and its quantile at level L is 1 whenever p ≤ L. Others keep the value given.
 */
export function lowestRatioGiven(p: number, ratio: Prediction['lowestRatio']): Prediction['lowestRatio'] {
  return { q10: p <= 0.1 ? 1 : ratio.q10, q50: p <= 0.5 ? 1 : ratio.q50, q90: p <= 0.9 ? 1 : ratio.q90 };
}

/** A loaded, ready-to-serve model. Predicting is synchronous and batched. */
export interface FareModel {
  version: string;
  /** ISO timestamp of training. */
  trainedAt: string;
  /** The tfjs backend it runs on: tensorflow, wasm or cpu. */
  backend: string;
  /**
   * The buy/wait rule tuned with this model on its training data: wait while
   * probabilityCheaperLater is above this. Absent for models without one; 0.5 is then sensible.
   */
  waitThreshold?: number;
  /** Predicts for many feature vectors at once; one row at a time is ~100× slower. */
  predict(vectors: readonly (readonly number[])[]): Prediction[];
  /** Frees its tensors. Called after a swap, once no request uses it. */
  dispose(): void;
}

/** Hands out the serving model. A swap is atomic: callers hold one reference per request. */
export interface ModelProvider {
  current(): FareModel | undefined;
}
