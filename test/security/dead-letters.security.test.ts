import { afterEach, describe, expect, it } from 'vitest';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import { defineFunction } from '../../src/runtime/define.js';
import { NonRetriableError } from '../../src/runtime/errors.js';
import { closeServices, fareEvent, post } from '../helpers/index.js';
import { ADMIN_KEY, bearer, expectEnvelope, keyedService, READ_KEY, UNKNOWN_KEY, WRITE_KEY } from './support.js';

afterEach(closeServices);

const alwaysFails = defineFunction({ id: 'always-fails', on: FARE_OBSERVED, retries: 0, backoffMs: 1 }, () => {
  throw new NonRetriableError('rejected on purpose');
});

/** A keyed service holding one dead letter. */
async function serviceWithDeadLetter(config: Record<string, string> = {}) {
  const service = keyedService(config, { functions: [alwaysFails], start: true });
  expect((await post(service.app, fareEvent(), { wait: 'true', headers: bearer(WRITE_KEY) })).status).toBe(202);
  const [dead] = service.storage.deliveries.listDead({ limit: 10 });
  expect(dead).toBeDefined();
  const invocations = () => service.runtime.stats()[0].invocations;
  return { service, dead, invocations, invocationsBefore: invocations() };
}

const replay = (service: Awaited<ReturnType<typeof serviceWithDeadLetter>>['service'], id: number, headers: Record<string, string> = {}) =>
  service.app.request(`/v1/dead-letters/${id}/replay`, { method: 'POST', headers });

describe('POST /v1/dead-letters/{id}/replay', () => {
  it('answers 401 without a key or with a wrong one, and leaves the dead letter dead', async () => {
    const { service, dead, invocations, invocationsBefore } = await serviceWithDeadLetter();
    const res = await replay(service, dead.id);
    await expectEnvelope(res, 401, 'unauthorized');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectEnvelope(await replay(service, dead.id, bearer(UNKNOWN_KEY)), 401, 'unauthorized');
    await service.runtime.drain(1000);
    expect(service.storage.deliveries.get(dead.id)?.status).toBe('dead');
    expect(invocations()).toBe(invocationsBefore);
  });

  it('answers 403 for a read-only key, and leaves the dead letter dead', async () => {
    const { service, dead, invocations, invocationsBefore } = await serviceWithDeadLetter();
    await expectEnvelope(await replay(service, dead.id, bearer(READ_KEY)), 403, 'forbidden');
    await service.runtime.drain(1000);
    expect(service.storage.deliveries.get(dead.id)?.status).toBe('dead');
    expect(invocations()).toBe(invocationsBefore);
  });

  it('checks the key before the id: an unauthenticated bad id is a 401, not a 400 or 404', async () => {
    const { service } = await serviceWithDeadLetter();
    await expectEnvelope(await replay(service, 999), 401, 'unauthorized');
    const res = await service.app.request('/v1/dead-letters/not-a-number/replay', { method: 'POST' });
    await expectEnvelope(res, 401, 'unauthorized');
  });

  it('replays with a write key', async () => {
    const { service, dead, invocations, invocationsBefore: before } = await serviceWithDeadLetter();
    const res = await replay(service, dead.id, bearer(WRITE_KEY));
    expect(res.status).toBe(202);
    await service.runtime.drain(10_000);
    // Delivered once more; the function always fails, so it is dead again.
    expect(invocations()).toBe(before + 1);
    expect(service.storage.deliveries.get(dead.id)?.status).toBe('dead');
  });

  it('answers 429 with Retry-After once the key spends its budget', async () => {
    const { service, dead } = await serviceWithDeadLetter({ FARESIGHT_RATE_LIMIT_PER_MINUTE: '2' });
    // The POST that made the dead letter spent one token of WRITE_KEY.
    expect((await replay(service, dead.id + 100, bearer(WRITE_KEY))).status).toBe(404);
    const limited = await replay(service, dead.id, bearer(WRITE_KEY));
    await expectEnvelope(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(service.storage.deliveries.get(dead.id)?.status).toBe('dead');
  });
});

describe('GET /v1/dead-letters', () => {
  it('is open to reads by default, even with keys configured', async () => {
    const { service } = await serviceWithDeadLetter();
    const res = await service.app.request('/v1/dead-letters');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { deadLetters: unknown[] }).deadLetters).toHaveLength(1);
  });

  it('with FARESIGHT_REQUIRE_KEY_FOR_READS: 401 without or with a wrong key, 403 for a write-only key, 200 for read keys', async () => {
    const { service } = await serviceWithDeadLetter({ FARESIGHT_REQUIRE_KEY_FOR_READS: 'true' });
    await expectEnvelope(await service.app.request('/v1/dead-letters'), 401, 'unauthorized');
    await expectEnvelope(await service.app.request('/v1/dead-letters', { headers: bearer(UNKNOWN_KEY) }), 401, 'unauthorized');
    await expectEnvelope(await service.app.request('/v1/dead-letters', { headers: bearer(WRITE_KEY) }), 403, 'forbidden');
    expect((await service.app.request('/v1/dead-letters', { headers: bearer(READ_KEY) })).status).toBe(200);
    expect((await service.app.request('/v1/dead-letters', { headers: bearer(ADMIN_KEY) })).status).toBe(200);
  });

  it('with reads requiring a key, the key is checked before the query: a bad query without a key is a 401', async () => {
    const { service } = await serviceWithDeadLetter({ FARESIGHT_REQUIRE_KEY_FOR_READS: 'true' });
    await expectEnvelope(await service.app.request('/v1/dead-letters?limit=-5'), 401, 'unauthorized');
  });
});
