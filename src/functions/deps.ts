import type { ForecastStore } from '../forecast/types.js';
import type { Logger } from '../logger.js';
import type { PricePoint, RouteStats, SeriesState } from '../model/features.js';
import type { ModelProvider } from '../model/predictor.js';
import type { RetrainDeps } from './retrain.js';

/** Series histories, keyed by series (route + departure date). */
export interface SeriesStore {
  /** The stored states of these series; absent keys have no history yet. Callers may mutate the copies. */
  load(keys: readonly string[]): Map<string, SeriesState>;
  /** Writes states; call inside a transaction (from a handler's effect). */
  save(states: Iterable<SeriesState>): void;
  /** The observed prices of one series, in time order. */
  history(key: string): PricePoint[] | undefined;
}

/** Route statistics, keyed by route and currency. */
export interface RouteStatsStore {
  load(keys: readonly string[]): Map<string, RouteStats>;
  save(stats: Iterable<RouteStats>): void;
}

/** What functions may use. Built once at start by the composition root. */
export interface FunctionDeps {
  series: SeriesStore;
  routes: RouteStatsStore;
  logger: Logger;
  /** The serving model; current() is undefined while none is loaded. */
  model: ModelProvider;
  /** The latest forecast of each series, written by predict. */
  forecasts: ForecastStore;
  /** The retrain function's model registry, counters and trainer; without it, retrain does nothing. */
  retrain?: RetrainDeps;
}
