import { afterEach, describe, expect, it } from 'vitest';
import { FEATURES_EXTRACTED } from '../../src/events/catalog.js';
import { ingestFareEvents } from '../../src/ingest.js';
import { buildDataset, sortByEventTime } from '../../src/model/dataset.js';
import type { FeatureRow } from '../../src/model/features.js';
import { functions } from '../../src/functions/index.js';
import { defineFunction } from '../../src/runtime/define.js';
import { closeServices, makeService } from '../helpers/service.js';
import { syntheticFares } from './synthetic.js';

afterEach(closeServices);

describe('features at serving time and at training time', () => {
  it('are identical for the same event history', async () => {
    const events = syntheticFares({ departures: 12, horizon: 20 });
    // Features are handed to predict in memory; a second inline subscriber sees the same rows.
    const served: FeatureRow[] = [];
    const capture = defineFunction<FeatureRow, unknown>({ id: 'capture-features', on: FEATURES_EXTRACTED }, ({ events }) => {
      for (const event of events) served.push(event.payload);
    });
    const service = makeService({ start: true, functions: [...functions, capture] });
    // In several requests, as clients would send them: each day's scrape in time order, processed
    // before the next day's arrives. A batch then holds one observation of each series, each its
    // series' latest, so every event's features are emitted.
    const days = [...new Set(events.map((e) => e.observedAt.slice(0, 10)))].sort();
    for (const day of days) {
      ingestFareEvents(service.storage, events.filter((e) => e.observedAt.startsWith(day)));
      service.runtime.notify();
      const { pending } = await service.runtime.drain(60_000);
      expect(pending).toBe(0);
    }

    expect(served).toHaveLength(events.length);

    const ds = buildDataset(sortByEventTime(events));
    const rowOf = new Map<string, number>();
    for (let i = 0; i < ds.size; i++) rowOf.set(`${ds.seriesKeys[ds.series[i]]}@${ds.time[i]}`, i);
    for (const row of served) {
      const i = rowOf.get(`${row.series}@${Date.parse(row.observedAt)}`);
      expect(i).toBeDefined();
      const trained = Array.from(ds.features.subarray(i! * ds.width, (i! + 1) * ds.width));
      // The dataset stores float32: the served doubles must round to exactly the same values.
      expect(row.vector.map(Math.fround)).toEqual(trained);
      expect(row.daysBefore).toBe(ds.daysBefore[i!]);
      expect(row.price).toBe(ds.price[i!]);
    }
  });
});
