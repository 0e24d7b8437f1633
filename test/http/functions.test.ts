import { afterEach, describe, expect, it } from 'vitest';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import { extractFeatures } from '../../src/functions/extract-features.js';
import { functions as registered } from '../../src/functions/index.js';
import { defineFunction } from '../../src/runtime/define.js';
import { fareSeries } from '../helpers/events.js';
import { get, post } from '../helpers/http.js';
import { closeServices, makeService } from '../helpers/service.js';

afterEach(closeServices);

interface StatsBody {
  id: string;
  triggers: string[];
  batch: { maxSize: number; maxWaitMs: number };
  retries: number;
  invocations: number;
  failures: number;
  retriesAttempted: number;
  deadLetters: number;
  lag: number;
  durationMs: { p50: number | null; p99: number | null };
}

const list = async (service: ReturnType<typeof makeService>) =>
  (await get<{ functions: StatsBody[] }>(service.app, '/v1/functions')).body.functions;

describe('GET /v1/functions', () => {
  it('lists every registered function with its trigger and settings', async () => {
    const service = makeService();
    const functions = await list(service);
    expect(functions.map((f) => f.id)).toEqual(registered.map((f) => f.id));
    const extract = functions.find((f) => f.id === 'extract-features');
    expect(extract).toMatchObject({
      triggers: [FARE_OBSERVED],
      batch: { maxSize: extractFeatures.batch.maxSize, maxWaitMs: extractFeatures.batch.maxWaitMs },
      retries: extractFeatures.retries,
      invocations: 0,
      failures: 0,
      deadLetters: 0,
      lag: 0,
      durationMs: { p50: null, p99: null },
    });
  });

  it('shows the lag of events not yet processed, and 0 after processing', async () => {
    const service = makeService({ functions: [extractFeatures] });
    await post(service.app, fareSeries(7));
    expect((await list(service))[0]).toMatchObject({ id: 'extract-features', lag: 7, invocations: 0 });
    service.runtime.start();
    await service.runtime.drain(10_000);
    const [stats] = await list(service);
    expect(stats.lag).toBe(0);
    expect(stats.invocations).toBeGreaterThanOrEqual(1);
    expect(stats.durationMs.p50).not.toBeNull();
    expect(stats.durationMs.p99!).toBeGreaterThanOrEqual(stats.durationMs.p50!);
  });

  it('counts failures, retries and dead letters', async () => {
    const failing = defineFunction({ id: 'always-fails', on: FARE_OBSERVED, retries: 2, backoffMs: 1 }, () => {
      throw new Error('nope');
    });
    const service = makeService({ functions: [failing], start: true });
    await post(service.app, fareSeries(2), { wait: 'true' });
    const [stats] = await list(service);
    expect(stats).toMatchObject({ id: 'always-fails', retries: 2, deadLetters: 2, lag: 0, retriesAttempted: 4 });
    expect(stats.failures).toBeGreaterThanOrEqual(6);
  });
});
