import { FARE_OBSERVED, FEATURES_EXTRACTED } from '../events/catalog.js';
import type { FareEvent } from '../events/fare-event.js';
import {
  emptyRouteStats,
  emptySeries,
  observe,
  record,
  routeStatsKeyOf,
  type RouteStats,
  type SeriesState,
} from '../model/features.js';
import { defineFunction } from '../runtime/define.js';
import type { FunctionDeps } from './deps.js';
import { latestPerSeries } from './latest.js';

/**
 * Folds each fare event into its series and route statistics, and emits the features of each
 * series' latest observation in the batch, computed from what was known at its observedAt: the
 * observation predict forecasts from. The others are folded in without their features, which a
 * bulk import in series order (a thousand events of a dozen series per request) would otherwise
 * compute and drop by the thousand.
 */
export const extractFeatures = defineFunction<FareEvent, FunctionDeps>(
  {
    id: 'extract-features',
    on: FARE_OBSERVED,
    batch: { maxSize: 2000, maxWaitMs: 2 },
    retries: 3,
  },
  ({ events, deps, emit, effect }) => {
    const series = deps.series.load([...new Set(events.map((e) => e.series))]);
    const routes = deps.routes.load([...new Set(events.map((e) => routeStatsKeyOf(e.payload)))]);
    const forecastFrom = new Uint8Array(events.length);
    for (const { index } of latestPerSeries(events).values()) forecastFrom[index] = 1;
    const touchedSeries = new Map<string, SeriesState>();
    const touchedRoutes = new Map<string, RouteStats>();
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      const fare = event.payload;
      let state = series.get(event.series);
      if (!state) {
        state = emptySeries(fare);
        series.set(event.series, state);
      }
      const routeKey = routeStatsKeyOf(fare);
      let stats = routes.get(routeKey);
      if (!stats) {
        stats = emptyRouteStats(routeKey);
        routes.set(routeKey, stats);
      }
      touchedSeries.set(state.key, state);
      touchedRoutes.set(routeKey, stats);
      if (!forecastFrom[i]) {
        record(state, stats, fare, event.time);
        continue;
      }
      const row = observe(state, stats, fare, event.time);
      emit({ type: FEATURES_EXTRACTED, series: event.series, time: event.time, payload: row }, event);
    }
    effect(() => {
      deps.series.save(touchedSeries.values());
      deps.routes.save(touchedRoutes.values());
    });
  },
);
