import { FEATURES_EXTRACTED, FORECAST_UPDATED } from '../events/catalog.js';
import { assembleForecastParts } from '../forecast/assemble.js';
import { forecastUpdatedOf, meaningfulChanges } from '../forecast/change.js';
import type { ForecastRecord } from '../forecast/types.js';
import { routeStatsKeyOfRow, type FeatureRow } from '../model/features.js';
import { defineFunction } from '../runtime/define.js';
import type { LoggedEvent } from '../runtime/types.js';
import type { FunctionDeps } from './deps.js';
import { latestPerSeries } from './latest.js';

/**
 * Turns features into forecasts. Per batch: takes the serving model once (so a model
 * swap never splits a batch), keeps each series' latest observation, predicts all of
 * them in one call, and upserts each series' forecast unless a newer one is stored.
 * Emits `forecast.updated` when a forecast changed meaningfully (see meaningfulChanges).
 * With no model loaded it stores nothing; the forecast API then answers 503.
 */
export const predict = defineFunction<FeatureRow, FunctionDeps>(
  {
    id: 'predict',
    on: FEATURES_EXTRACTED,
    batch: { maxSize: 2000, maxWaitMs: 2 },
    retries: 3,
  },
  ({ events, deps, emit, effect }) => {
    const model = deps.model.current();
    if (!model) return;

    // The latest observation of each series in this batch (extract-features emits only those).
    const latest = latestPerSeries(events);
    const stored = deps.forecasts.summaries([...latest.keys()]);
    // A late event must not replace a forecast made from a newer observation.
    const fresh: { event: LoggedEvent<FeatureRow>; asOfMs: number }[] = [];
    for (const { index, observedMs } of latest.values()) {
      const previous = stored.get(events[index].series);
      if (!previous || observedMs >= previous.asOfMs) fresh.push({ event: events[index], asOfMs: observedMs });
    }
    if (fresh.length === 0) return;

    const predictions = model.predict(fresh.map(({ event }) => event.payload.vector));
    if (predictions.length !== fresh.length) {
      throw new Error(`model ${model.version} returned ${predictions.length} predictions for ${fresh.length} rows`);
    }
    const routeKeys = new Set(fresh.map(({ event }) => routeStatsKeyOfRow(event.payload)));
    const routeStats = deps.routes.load([...routeKeys]);

    const records: ForecastRecord[] = fresh.map(({ event, asOfMs }, i) => {
      const row = event.payload;
      const { core, outlookCurve } = assembleForecastParts({
        row,
        prediction: predictions[i],
        model,
        routeStats: routeStats.get(routeStatsKeyOfRow(row)),
      });
      const previous = stored.get(event.series);
      const reasons = meaningfulChanges(previous, core);
      if (reasons.length > 0) {
        emit(
          { type: FORECAST_UPDATED, series: event.series, time: event.time, payload: forecastUpdatedOf(event.series, core, previous, reasons) },
          event,
        );
      }
      return { series: event.series, asOfMs, core, outlookCurve };
    });
    effect(() => deps.forecasts.save(records));
  },
);
