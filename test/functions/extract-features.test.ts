import { afterEach, describe, expect, it } from 'vitest';
import { FARE_OBSERVED, FEATURES_EXTRACTED } from '../../src/events/catalog.js';
import { seriesKeyOf, type FareEvent } from '../../src/events/fare-event.js';
import { BACKLOG_BATCH_SIZE, backlogFunctions, functions } from '../../src/functions/index.js';
import { ingestFareEvents } from '../../src/ingest.js';
import {
  emptyRouteStats,
  emptySeries,
  observe,
  pointList,
  record,
  routeStatsKeyOf,
  type FeatureRow,
} from '../../src/model/features.js';
import { defineFunction } from '../../src/runtime/define.js';
import { closeServices, makeService } from '../helpers/service.js';
import { syntheticFares } from '../model/synthetic.js';

afterEach(closeServices);

const byTime = <T extends { observedAt: string }>(events: T[]) =>
  [...events].sort((a, b) => Date.parse(a.observedAt) - Date.parse(b.observedAt));

describe('extract-features', () => {
  it('folds every event in, and emits the features of each series\' latest observation of a batch', async () => {
    const events = syntheticFares({ departures: 3, horizon: 10 });
    const served: FeatureRow[] = [];
    const capture = defineFunction<FeatureRow, unknown>({ id: 'capture-features', on: FEATURES_EXTRACTED }, ({ events: rows }) => {
      for (const row of rows) served.push(row.payload);
    });
    const service = makeService({ start: true, functions: [...functions, capture] });
    // One request, so one batch: a series' observations out of time order within it.
    ingestFareEvents(service.storage, [...events].reverse());
    service.runtime.notify();
    expect((await service.runtime.drain(30_000)).pending).toBe(0);

    const keys = [...new Set(events.map(seriesKeyOf))];
    expect(served.map((row) => row.series).sort()).toEqual([...keys].sort());

    // What observe() gives, replaying the same history in log order, for each series' last event.
    const states = new Map(keys.map((key) => [key, emptySeries(events.find((e) => seriesKeyOf(e) === key)!)]));
    const routes = new Map<string, ReturnType<typeof emptyRouteStats>>();
    const expected = new Map<string, FeatureRow>();
    const logged = service.storage.log.readAfter(0, [FARE_OBSERVED], 10_000).map((e) => e.payload as FareEvent);
    expect(logged).toHaveLength(events.length);
    for (const event of logged) {
      const key = routeStatsKeyOf(event);
      if (!routes.has(key)) routes.set(key, emptyRouteStats(key));
      expected.set(seriesKeyOf(event), observe(states.get(seriesKeyOf(event))!, routes.get(key)!, event));
    }
    for (const row of served) expect(row).toEqual(expected.get(row.series));

    // Every observation is in the stored series, not only the ones with features.
    const stored = service.functionDeps.series.load(keys);
    for (const key of keys) expect(pointList(stored.get(key)!.points)).toEqual(pointList(states.get(key)!.points));
  });

  it('records an observation into its series and route exactly as observe does', () => {
    const events = byTime(syntheticFares({ departures: 4, horizon: 12 }));
    const fold = (withFeatures: (i: number) => boolean) => {
      const series = new Map<string, ReturnType<typeof emptySeries>>();
      const routes = new Map<string, ReturnType<typeof emptyRouteStats>>();
      events.forEach((event, i) => {
        const key = seriesKeyOf(event);
        if (!series.has(key)) series.set(key, emptySeries(event));
        const routeKey = routeStatsKeyOf(event);
        if (!routes.has(routeKey)) routes.set(routeKey, emptyRouteStats(routeKey));
        if (withFeatures(i)) observe(series.get(key)!, routes.get(routeKey)!, event);
        else record(series.get(key)!, routes.get(routeKey)!, event);
      });
      return { series: [...series.values()].map((s) => pointList(s.points)), routes: [...routes.values()] };
    };
    const observed = fold(() => true);
    expect(fold(() => false)).toEqual(observed);
    expect(fold((i) => i % 3 === 0)).toEqual(observed);
  });

  it('takes a backlog in invocations of many more events where nothing else is served', () => {
    const backlog = backlogFunctions();
    expect(backlog.map((fn) => fn.id)).toEqual(functions.map((fn) => fn.id));
    const extract = backlog.find((fn) => fn.id === 'extract-features')!;
    expect(extract.batch.maxSize).toBe(BACKLOG_BATCH_SIZE);
    expect(extract.handler).toBe(functions.find((fn) => fn.id === 'extract-features')!.handler);
    // The other functions, and the service's own list, are left as they are.
    backlog.filter((fn) => fn !== extract).forEach((fn) => expect(functions).toContain(fn));
    expect(functions.find((fn) => fn.id === 'extract-features')!.batch.maxSize).toBe(2000);
  });
});
