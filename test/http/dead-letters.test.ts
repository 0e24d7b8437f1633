import { afterEach, describe, expect, it } from 'vitest';
import { FARE_OBSERVED } from '../../src/events/catalog.js';
import type { FareEvent } from '../../src/events/fare-event.js';
import type { FunctionDeps } from '../../src/functions/deps.js';
import { defineFunction } from '../../src/runtime/define.js';
import { fareEvent, fareSeries } from '../helpers/events.js';
import { body, get, post, type ErrorBody } from '../helpers/http.js';
import { closeServices, makeService } from '../helpers/service.js';

afterEach(closeServices);

interface DeadLetterBody {
  id: number;
  functionId: string;
  seq: number;
  series: string;
  attempts: number;
  error: string | null;
  failedAt: string;
  event: { type: string; payload: Record<string, unknown> } | null;
}

/** A function that fails on prices above 500 while `state.broken`, counting successes per seq. */
function priceGuard(state: { broken: boolean }, id = 'price-guard') {
  const processed = new Map<number, number>();
  const fn = defineFunction<FareEvent, FunctionDeps>({ id, on: FARE_OBSERVED, retries: 1, backoffMs: 1 }, ({ events }) => {
    if (state.broken && events.some((e) => e.payload.price > 500)) throw new Error(`price too high in ${id}`);
    for (const e of events) processed.set(e.seq, (processed.get(e.seq) ?? 0) + 1);
  });
  return { fn, processed };
}

describe('dead letters over HTTP', () => {
  it('lists a dead letter with its event, replays it after the fix, and processes it exactly once', async () => {
    const state = { broken: true };
    const { fn, processed } = priceGuard(state);
    const service = makeService({ functions: [fn], start: true });
    const [cheap, dear] = [fareEvent({ price: 50 }), fareEvent({ price: 900, observedAt: '2016-04-02T09:00:00Z' })];
    await post(service.app, [cheap, dear], { wait: 'true' });

    const { status, body: listing } = await get<{ deadLetters: DeadLetterBody[] }>(service.app, '/v1/dead-letters');
    expect(status).toBe(200);
    expect(listing.deadLetters).toHaveLength(1);
    const [dead] = listing.deadLetters;
    expect(dead).toMatchObject({
      functionId: 'price-guard',
      series: 'BCN-BUD-2016-04-20',
      attempts: 2,
      error: 'Error: price too high in price-guard',
      event: { type: FARE_OBSERVED, payload: { price: 900, observedAt: '2016-04-02T09:00:00.000Z' } },
    });
    expect(Number.isNaN(Date.parse(dead.failedAt))).toBe(false);
    expect(processed.get(dead.seq)).toBeUndefined();
    expect(processed.size).toBe(1);

    state.broken = false;
    const replay = await post(service.app, '', {}, `/v1/dead-letters/${dead.id}/replay`);
    expect(replay.status).toBe(202);
    expect(await body(replay)).toEqual({ id: dead.id, replayed: true });
    expect(await service.runtime.drain(10_000)).toEqual({ pending: 0, timedOut: false });

    expect(processed.get(dead.seq)).toBe(1);
    expect((await get(service.app, '/v1/dead-letters')).body).toEqual({ deadLetters: [] });
    // Already replayed and processed: a second replay finds nothing.
    const again = await post(service.app, '', {}, `/v1/dead-letters/${dead.id}/replay`);
    expect(again.status).toBe(404);
    expect((await body<ErrorBody>(again)).error.code).toBe('not_found');
    await service.runtime.drain(10_000);
    expect(processed.get(dead.seq)).toBe(1);
  });

  it('filters by function and pages with after and limit', async () => {
    const state = { broken: true };
    const first = priceGuard(state, 'guard-a');
    const second = priceGuard(state, 'guard-b');
    const service = makeService({ functions: [first.fn, second.fn], start: true });
    const dear = fareSeries(3, { basePrice: 600 });
    await post(service.app, dear, { wait: 'true' });

    const all = (await get<{ deadLetters: DeadLetterBody[] }>(service.app, '/v1/dead-letters')).body.deadLetters;
    expect(all).toHaveLength(6);
    const onlyA = (await get<{ deadLetters: DeadLetterBody[] }>(service.app, '/v1/dead-letters?function=guard-a')).body.deadLetters;
    expect(onlyA.map((d) => d.functionId)).toEqual(['guard-a', 'guard-a', 'guard-a']);
    const page1 = (await get<{ deadLetters: DeadLetterBody[] }>(service.app, '/v1/dead-letters?limit=4')).body.deadLetters;
    const page2 = (await get<{ deadLetters: DeadLetterBody[] }>(service.app, `/v1/dead-letters?limit=4&after=${page1[3].id}`)).body
      .deadLetters;
    expect(page1).toHaveLength(4);
    expect([...page1, ...page2].map((d) => d.id)).toEqual(all.map((d) => d.id));
  });

  it('replaying one function’s dead letter does not run the other function again', async () => {
    const state = { broken: true };
    const first = priceGuard(state, 'guard-a');
    const second = priceGuard(state, 'guard-b');
    const service = makeService({ functions: [first.fn, second.fn], start: true });
    await post(service.app, fareEvent({ price: 700 }), { wait: 'true' });
    const [deadA] = (await get<{ deadLetters: DeadLetterBody[] }>(service.app, '/v1/dead-letters?function=guard-a')).body.deadLetters;
    state.broken = false;
    expect((await post(service.app, '', {}, `/v1/dead-letters/${deadA.id}/replay`)).status).toBe(202);
    await service.runtime.drain(10_000);
    expect(first.processed.get(deadA.seq)).toBe(1);
    expect(second.processed.get(deadA.seq)).toBeUndefined();
    const left = (await get<{ deadLetters: DeadLetterBody[] }>(service.app, '/v1/dead-letters')).body.deadLetters;
    expect(left.map((d) => d.functionId)).toEqual(['guard-b']);
  });

  it('answers 404 for an unknown id and 400 for one that is not a number', async () => {
    const service = makeService();
    const missing = await post(service.app, '', {}, '/v1/dead-letters/999/replay');
    expect(missing.status).toBe(404);
    const bad = await post(service.app, '', {}, '/v1/dead-letters/abc/replay');
    expect(bad.status).toBe(400);
    expect((await body<ErrorBody>(bad)).error.code).toBe('invalid_request');
    const badLimit = await service.app.request('/v1/dead-letters?limit=0');
    expect(badLimit.status).toBe(400);
  });

  it('requires a write key to replay when keys are configured', async () => {
    const state = { broken: true };
    const { fn } = priceGuard(state);
    const readKey = 'r'.repeat(20);
    const writeKey = 'w'.repeat(20);
    const service = makeService({
      functions: [fn],
      start: true,
      config: { FARESIGHT_API_KEYS: `${readKey}:read,${writeKey}:write` },
    });
    await post(service.app, fareEvent({ price: 900 }), { wait: 'true', headers: { authorization: `Bearer ${writeKey}` } });
    const [dead] = (await get<{ deadLetters: DeadLetterBody[] }>(service.app, '/v1/dead-letters')).body.deadLetters;
    expect(dead).toBeDefined();
    const path = `/v1/dead-letters/${dead.id}/replay`;
    expect((await post(service.app, '', {}, path)).status).toBe(401);
    expect((await post(service.app, '', { headers: { authorization: `Bearer ${readKey}` } }, path)).status).toBe(403);
    expect((await post(service.app, '', { headers: { authorization: `Bearer ${writeKey}` } }, path)).status).toBe(202);
  });
});
