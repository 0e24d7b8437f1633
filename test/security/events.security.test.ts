import { afterEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST } from '../../src/http/events.js';
import { closeServices, fareEvent, fareSeries, makeService, post } from '../helpers/index.js';
import { ADMIN_KEY, bearer, expectEnvelope, keyedService, logRows, READ_KEY, UNKNOWN_KEY, WRITE_KEY } from './support.js';

afterEach(closeServices);

describe('POST /v1/events: keys', () => {
  it('without configured keys, accepts writes without a header (the service is loopback-only then)', async () => {
    const service = makeService();
    const res = await post(service.app, fareEvent());
    expect(res.status).toBe(202);
    expect(logRows(service)).toBe(1);
  });

  it('answers 401 without a key and stores nothing', async () => {
    const service = keyedService();
    const res = await post(service.app, fareEvent());
    await expectEnvelope(res, 401, 'unauthorized');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(logRows(service)).toBe(0);
  });

  it('answers 401 for an unknown key, a near miss of a real one, and malformed headers', async () => {
    const service = keyedService();
    const headers = [
      bearer(UNKNOWN_KEY),
      bearer(WRITE_KEY.slice(0, -1)),
      bearer(`${WRITE_KEY}x`),
      bearer(WRITE_KEY.toUpperCase()),
      { authorization: WRITE_KEY },
      { authorization: `Basic ${Buffer.from(`user:${WRITE_KEY}`).toString('base64')}` },
      { authorization: 'Bearer' },
      { authorization: `Bearer ${WRITE_KEY} extra` },
      { authorization: `Bearer ${WRITE_KEY}:write` },
    ];
    for (const h of headers) {
      await expectEnvelope(await post(service.app, fareEvent(), { headers: h }), 401, 'unauthorized');
    }
    expect(logRows(service)).toBe(0);
  });

  it('answers 403 for a read-only key and stores nothing', async () => {
    const service = keyedService();
    await expectEnvelope(await post(service.app, fareEvent(), { headers: bearer(READ_KEY) }), 403, 'forbidden');
    expect(logRows(service)).toBe(0);
  });

  it('accepts a write key and a key with every scope, the scheme in any case', async () => {
    const service = keyedService();
    expect((await post(service.app, fareEvent({ price: 10 }), { headers: bearer(WRITE_KEY) })).status).toBe(202);
    expect((await post(service.app, fareEvent({ price: 11, observedAt: '2016-04-02T00:00:00Z' }), { headers: { authorization: `bearer ${ADMIN_KEY}` } })).status).toBe(202);
    expect(logRows(service)).toBe(2);
  });

  it('checks the key before it reads the body: an unauthenticated oversized body is a 401', async () => {
    const service = keyedService();
    const res = await post(service.app, 'x'.repeat(MAX_BODY_BYTES + 1));
    await expectEnvelope(res, 401, 'unauthorized');
  });
});

describe('POST /v1/events: limits', () => {
  it('answers 413 for a body over 10 MB and stores nothing', async () => {
    const service = keyedService();
    const events = fareSeries(10);
    const padding = ' '.repeat(MAX_BODY_BYTES);
    const res = await post(service.app, JSON.stringify(events) + padding, { headers: bearer(WRITE_KEY) });
    await expectEnvelope(res, 413, 'payload_too_large');
    expect(logRows(service)).toBe(0);
  });

  it('answers 413 for more events than a request may carry, as JSON and as NDJSON', async () => {
    const service = keyedService();
    const events = fareSeries(MAX_EVENTS_PER_REQUEST + 1);
    await expectEnvelope(await post(service.app, events, { headers: bearer(WRITE_KEY) }), 413, 'payload_too_large');
    const ndjson = events.map((e) => JSON.stringify(e)).join('\n');
    await expectEnvelope(
      await post(service.app, ndjson, { headers: bearer(WRITE_KEY), contentType: 'application/x-ndjson' }),
      413,
      'payload_too_large',
    );
    expect(logRows(service)).toBe(0);
  });

  it('answers 429 with Retry-After once a key spends its budget, and stores nothing then', async () => {
    const service = keyedService({ FARESIGHT_RATE_LIMIT_PER_MINUTE: '2' });
    for (let i = 0; i < 2; i++) {
      const res = await post(service.app, fareEvent({ price: 20 + i, observedAt: `2016-04-0${i + 1}T00:00:00Z` }), { headers: bearer(WRITE_KEY) });
      expect(res.status).toBe(202);
    }
    const limited = await post(service.app, fareEvent({ price: 30, observedAt: '2016-04-05T00:00:00Z' }), { headers: bearer(WRITE_KEY) });
    await expectEnvelope(limited, 429, 'rate_limited');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(logRows(service)).toBe(2);

    // Another key has its own budget.
    expect((await post(service.app, fareEvent({ price: 31, observedAt: '2016-04-06T00:00:00Z' }), { headers: bearer(ADMIN_KEY) })).status).toBe(202);
  });

  it('counts requests without a valid key against their address, so key guessing is throttled', async () => {
    const service = keyedService({ FARESIGHT_RATE_LIMIT_PER_MINUTE: '3' });
    for (let i = 0; i < 3; i++) {
      await expectEnvelope(await post(service.app, fareEvent(), { headers: bearer(`${UNKNOWN_KEY}${i}`) }), 401, 'unauthorized');
    }
    await expectEnvelope(await post(service.app, fareEvent(), { headers: bearer(UNKNOWN_KEY) }), 429, 'rate_limited');
    await expectEnvelope(await post(service.app, fareEvent()), 429, 'rate_limited');
    // A valid key is not held back by the guesses made from its address.
    expect((await post(service.app, fareEvent(), { headers: bearer(WRITE_KEY) })).status).toBe(202);
  });

  it('has no limit when the rate limit is 0', async () => {
    const service = keyedService({ FARESIGHT_RATE_LIMIT_PER_MINUTE: '0' });
    for (let i = 0; i < 50; i++) {
      expect((await post(service.app, fareEvent(), { headers: bearer(WRITE_KEY) })).status).toBe(202);
    }
  });
});
