import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RETRAIN_REQUESTED } from '../../src/events/catalog.js';
import { RETRAIN_BATCH, retrain, requestRetrain, RETRAIN_STATE_KEY, type RetrainTriggerState } from '../../src/functions/retrain.js';
import { ingestFareEvents } from '../../src/ingest.js';
import { readPointer } from '../../src/model/artifacts.js';
import { decidePromotion, runRetrainJob, type RetrainOutcome } from '../../src/model/retrain.js';
import { writeTinyModel } from '../../src/model/testing.js';
import { initTensorflow } from '../../src/model/tf.js';
import { closeServices, makeService } from '../helpers/service.js';
import { syntheticFares } from '../model/synthetic.js';

const dirs: string[] = [];
async function tempModels(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'faresight-retrain-'));
  dirs.push(dir);
  return join(dir, 'models');
}

afterEach(async () => {
  await closeServices();
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

beforeAll(async () => {
  await initTensorflow();
});

/** A few seconds of training on the synthetic data: enough to learn its rule. */
const QUICK = { hidden: [16], maxEpochs: 12, patience: 12, batchSize: 128, learningRate: 0.01, dropout: 0, ensemble: 2 };

describe('promotion decision', () => {
  const score = (savings: number | null, auc: number | null) => ({ savingsPctOfOptimal: savings, auc });

  it('promotes without a serving model', () => {
    expect(decidePromotion(score(5, 0.6), null).promote).toBe(true);
  });
  it('promotes only a challenger that saves more', () => {
    expect(decidePromotion(score(35, 0.8), score(30, 0.85)).promote).toBe(true);
    expect(decidePromotion(score(25, 0.9), score(30, 0.8)).promote).toBe(false);
  });
  it('breaks a tie on savings with AUC', () => {
    expect(decidePromotion(score(30.02, 0.82), score(30, 0.8)).promote).toBe(true);
    expect(decidePromotion(score(30.02, 0.78), score(30, 0.8)).promote).toBe(false);
  });
  it('keeps the serving model when nothing can be compared', () => {
    expect(decidePromotion(score(null, null), score(30, 0.8)).promote).toBe(false);
  });
});

describe('retrain job', () => {
  const events = syntheticFares({ departures: 60, horizon: 30 });

  it('promotes a first model, then rejects a worse challenger and keeps serving the first', async () => {
    const modelsDir = await tempModels();
    const first = await runRetrainJob(events, { modelsDir, reason: 'test', train: QUICK });
    expect(first.error).toBeNull();
    expect(first.status).toBe('promoted');
    expect(await readPointer(modelsDir)).toBe(first.version);
    const firstSavings = (first.metrics.challenger as { savingsPctOfOptimal: number }).savingsPctOfOptimal;
    expect(firstSavings).toBeGreaterThan(50);

    // A challenger that never learns (learning rate 0) must not replace it.
    const worse = await runRetrainJob(events, { modelsDir, reason: 'test', train: { ...QUICK, learningRate: 0 } });
    expect(worse.status).toBe('rejected');
    expect(worse.decision).toMatch(/saves less|tie/);
    expect(await readPointer(modelsDir)).toBe(first.version);
    const incumbent = worse.metrics.incumbent as { version: string; savingsPctOfOptimal: number };
    expect(incumbent.version).toBe(first.version);
  });

  it('records a diverging training as failed and leaves the serving model alone', async () => {
    const modelsDir = await tempModels();
    const serving = await writeTinyModel(modelsDir, { promote: true });
    const outcome = await runRetrainJob(events, { modelsDir, reason: 'test', train: { ...QUICK, learningRate: Number.NaN } });
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatch(/loss/);
    expect(await readPointer(modelsDir)).toBe(serving);
  });

  it('fails with too little data', async () => {
    const modelsDir = await tempModels();
    const outcome = await runRetrainJob(events.slice(0, 50), { modelsDir, reason: 'test' });
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatch(/at least/);
    expect(await readPointer(modelsDir)).toBeUndefined();
  });
});

/** A service running only the retrain function, with the trainer replaced by a recorder. */
function triggerService(afterEvents: number) {
  const service = makeService({ functions: [retrain], config: { FARESIGHT_RETRAIN_AFTER_EVENTS: String(afterEvents) } });
  const runs: string[] = [];
  const deps = service.functionDeps.retrain!;
  deps.enoughData = () => true;
  deps.run = async (reason): Promise<RetrainOutcome> => {
    runs.push(reason);
    return {
      version: `v${runs.length}`,
      createdAt: Date.now(),
      status: 'rejected',
      reason,
      decision: 'rejected: test',
      window: { from: null, to: null, holdoutFrom: null, events: 0 },
      metrics: {},
      error: null,
    };
  };
  service.runtime.start();
  return { service, runs };
}

describe('retrain trigger', () => {
  it('retrains after the configured number of fare events, once per burst', async () => {
    const { service, runs } = triggerService(100);
    // All observed on one day, so only the count can trigger.
    const sameDay = (n: number, offset: number) =>
      Array.from({ length: n }, (_, i) => ({
        origin: 'AAA',
        destination: 'BBB',
        departureDate: new Date(Date.UTC(2016, 1, 1 + ((i + offset) % 60))).toISOString().slice(0, 10),
        observedAt: new Date(Date.UTC(2016, 0, 15, 9, 0, i + offset)).toISOString(),
        price: 50 + i,
        currency: 'EUR',
      }));
    ingestFareEvents(service.storage, sameDay(90, 0));
    service.runtime.notify();
    await service.runtime.drain(10_000);
    expect(runs).toEqual([]);
    ingestFareEvents(service.storage, sameDay(20, 90));
    service.runtime.notify();
    await service.runtime.drain(10_000);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatch(/110 new fare events/);
    expect(service.functionDeps.retrain!.registry.list(10).map((r) => r.version)).toEqual(['v1']);
    const state = service.functionDeps.retrain!.state.get<RetrainTriggerState>(RETRAIN_STATE_KEY)!;
    expect(state.eventsSince).toBe(0);
  });

  it('retrains when event time enters a new day', async () => {
    const { service, runs } = triggerService(1_000_000);
    const events = syntheticFares({ departures: 2, horizon: 5 });
    const firstDay = events[0].observedAt.slice(0, 10);
    ingestFareEvents(service.storage, events.filter((e) => e.observedAt.startsWith(firstDay)));
    service.runtime.notify();
    await service.runtime.drain(10_000);
    expect(runs).toEqual([]);
    ingestFareEvents(service.storage, events.filter((e) => !e.observedAt.startsWith(firstDay)));
    service.runtime.notify();
    await service.runtime.drain(10_000);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatch(/event time entered/);
  });

  it('puts an owed retrain off while working through a backlog, then trains once', async () => {
    const { service, runs } = triggerService(1000);
    const events = syntheticFares({ departures: 200, horizon: 30, routes: [
      { origin: 'AAA', destination: 'BBB', currency: 'EUR', base: 80 },
      { origin: 'CCC', destination: 'DDD', currency: 'PLN', base: 350 },
    ] });
    expect(events.length).toBeGreaterThan(RETRAIN_BATCH.maxSize);
    await service.runtime.stop();
    ingestFareEvents(service.storage, events.slice(0, 5000));
    ingestFareEvents(service.storage, events.slice(5000, 10000));
    ingestFareEvents(service.storage, events.slice(10000));
    service.runtime.start();
    await service.runtime.drain(30_000);
    expect(runs).toHaveLength(1);
  });

  it('retrains on request, and does nothing more for the same request', async () => {
    const { service, runs } = triggerService(0);
    requestRetrain(service.storage, 'operator: test');
    service.runtime.notify();
    await service.runtime.drain(10_000);
    expect(runs).toEqual(['operator: test']);
    const logged = service.storage.log.readAfter(0, [RETRAIN_REQUESTED], 10);
    expect(logged).toHaveLength(1);
    expect(logged[0].root).toBe(logged[0].seq);
  });

  it('skips automatic retrains while there is too little data, without recording them', async () => {
    const { service, runs } = triggerService(10);
    service.functionDeps.retrain!.enoughData = () => false;
    ingestFareEvents(service.storage, syntheticFares({ departures: 2, horizon: 10 }));
    service.runtime.notify();
    await service.runtime.drain(10_000);
    expect(runs).toEqual([]);
    expect(service.functionDeps.retrain!.registry.list(10)).toEqual([]);
  });
});

describe('retrain in the service', () => {
  it('trains in another process: requests are answered while it runs', async () => {
    const service = makeService({ functions: [retrain] });
    const deps = service.functionDeps.retrain!;
    const run = deps.run;
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    deps.run = (reason) => {
      markStarted();
      return run(reason);
    };
    const events = syntheticFares({ departures: 40, horizon: 25 });
    ingestFareEvents(service.storage, events);
    service.runtime.start();
    requestRetrain(service.storage, 'test');
    service.runtime.notify();

    const order: string[] = [];
    const training = service.runtime.drain(120_000).then((r) => {
      order.push('training finished');
      return r;
    });
    await started;
    const health = await service.app.request('/healthz');
    order.push(`healthz ${health.status}`);
    const models = await service.app.request('/v1/models');
    order.push(`models ${models.status}`);
    const result = await training;
    expect(result.timedOut).toBe(false);
    expect(order).toEqual(['healthz 200', 'models 200', 'training finished']);
    // The training really ran, and its model (the first one) now serves.
    const [record] = deps.registry.list(1);
    expect(record.error).toBeNull();
    expect(record.status).toBe('promoted');
    expect(record.window.events).toBe(events.length);
    expect(service.functionDeps.model.current()?.version).toBe(record.version);
  });
});
