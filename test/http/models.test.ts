import { afterEach, describe, expect, it } from 'vitest';
import { RETRAIN_REQUESTED } from '../../src/events/catalog.js';
import { readPointer } from '../../src/model/artifacts.js';
import { writeTinyModel } from '../../src/model/testing.js';
import type { RetrainOutcome } from '../../src/model/retrain.js';
import { closeServices, makeService } from '../helpers/service.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

afterEach(closeServices);

const KEY_RW = 'rw-key-0123456789abcdef';
const KEY_R = 'read-key-0123456789abcdef';

function record(version: string, status: RetrainOutcome['status'], createdAt: number): RetrainOutcome {
  return {
    version,
    createdAt,
    status,
    reason: 'test',
    decision: `${status}: test`,
    window: { from: '2016-01-01T00:00:00.000Z', to: '2016-03-31T00:00:00.000Z', holdoutFrom: '2016-03-17T00:00:00.000Z', events: 1234 },
    metrics: { challenger: { savingsPctOfOptimal: 30, auc: 0.8 } },
    error: status === 'failed' ? 'Error: boom' : null,
  };
}

async function serviceWithModels() {
  const service = makeService({ config: { FARESIGHT_API_KEYS: `${KEY_RW},${KEY_R}:read` } });
  const deps = service.functionDeps.retrain!;
  const older = await writeTinyModel(deps.modelsDir, { version: 'm-older', seed: 1 });
  const newer = await writeTinyModel(deps.modelsDir, { version: 'm-newer', seed: 2, promote: true });
  deps.registry.record(record(older, 'promoted', 1000));
  deps.registry.record(record(newer, 'promoted', 2000));
  deps.registry.record(record('m-failed', 'failed', 3000));
  await service.modelProvider.refresh!();
  return { service, deps, older, newer };
}

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe('GET /v1/models', () => {
  it('lists retrains newest first and shows the serving model', async () => {
    const { service, newer } = await serviceWithModels();
    const res = await service.app.request('/v1/models');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.serving.version).toBe(newer);
    expect(body.pointer).toBe(newer);
    expect(body.models.map((m: { version: string }) => m.version)).toEqual(['m-failed', 'm-newer', 'm-older']);
    expect(body.models.map((m: { serving: boolean }) => m.serving)).toEqual([false, true, false]);
    expect(body.models[0].error).toBe('Error: boom');
    expect(body.models[1].window.events).toBe(1234);
  });

  it('shows no serving model when there is none', async () => {
    const service = makeService();
    const body = await (await service.app.request('/v1/models')).json();
    expect(body).toEqual({ serving: null, pointer: null, models: [] });
  });
});

describe('POST /v1/models/{version}/promote', () => {
  it('rolls back to an older version, which the service then serves', async () => {
    const { service, deps, older, newer } = await serviceWithModels();
    const res = await service.app.request(`/v1/models/${older}/promote`, { method: 'POST', headers: auth(KEY_RW) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ serving: older, previous: newer });
    expect(await readPointer(deps.modelsDir)).toBe(older);
    expect(service.functionDeps.model.current()?.version).toBe(older);
    expect(deps.registry.get(older)?.decision).toMatch(/promoted by an operator/);
  });

  it('needs the write scope', async () => {
    const { service, deps, older, newer } = await serviceWithModels();
    expect((await service.app.request(`/v1/models/${older}/promote`, { method: 'POST' })).status).toBe(401);
    expect((await service.app.request(`/v1/models/${older}/promote`, { method: 'POST', headers: auth(KEY_R) })).status).toBe(403);
    expect(await readPointer(deps.modelsDir)).toBe(newer);
  });

  it('refuses unknown and broken versions and keeps serving', async () => {
    const { service, deps, newer } = await serviceWithModels();
    const unknown = await service.app.request('/v1/models/m-nope/promote', { method: 'POST', headers: auth(KEY_RW) });
    expect(unknown.status).toBe(404);
    const broken = await writeTinyModel(deps.modelsDir, { version: 'm-broken' });
    await writeFile(join(deps.modelsDir, broken, 'weights.bin'), Buffer.alloc(3));
    const res = await service.app.request(`/v1/models/${broken}/promote`, { method: 'POST', headers: auth(KEY_RW) });
    expect(res.status).toBe(409);
    expect((await res.json()).error.code).toBe('conflict');
    expect(await readPointer(deps.modelsDir)).toBe(newer);
    expect(service.functionDeps.model.current()?.version).toBe(newer);
  });
});

describe('POST /v1/models/retrain', () => {
  it('appends a retrain request', async () => {
    const { service } = await serviceWithModels();
    const res = await service.app.request('/v1/models/retrain', {
      method: 'POST',
      headers: { ...auth(KEY_RW), 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'new data' }),
    });
    expect(res.status).toBe(202);
    const { seq } = await res.json();
    const event = service.storage.log.read(seq);
    expect(event?.type).toBe(RETRAIN_REQUESTED);
    expect(event?.payload).toMatchObject({ reason: 'operator: new data' });
  });

  it('works without a body and needs the write scope', async () => {
    const { service } = await serviceWithModels();
    expect((await service.app.request('/v1/models/retrain', { method: 'POST', headers: auth(KEY_R) })).status).toBe(403);
    const res = await service.app.request('/v1/models/retrain', { method: 'POST', headers: auth(KEY_RW) });
    expect(res.status).toBe(202);
    expect(service.storage.log.readAfter(0, [RETRAIN_REQUESTED], 10)).toHaveLength(1);
  });
});
