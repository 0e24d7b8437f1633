import { afterEach, describe, expect, it } from 'vitest';
import { closeForecastServices, createModelDouble, createSwappableProvider, makeForecastService } from '../helpers/forecast.js';
import { fareSeries, post } from '../helpers/index.js';
import { ADMIN_KEY, bearer, expectEnvelope, KEYS_ENV, READ_KEY, UNKNOWN_KEY, WRITE_KEY } from './support.js';

afterEach(closeForecastServices);

const FORECAST = '/v1/forecast?origin=BCN&destination=BUD&departureDate=2016-04-20';

/** A keyed service with a model double and one series processed. */
async function forecastService(config: Record<string, string> = {}) {
  const provider = createSwappableProvider(createModelDouble({ version: 'security-test' }));
  const service = makeForecastService(provider, { config: { FARESIGHT_API_KEYS: KEYS_ENV, ...config } });
  const res = await post(service.app, fareSeries(5), { wait: 'true', headers: bearer(WRITE_KEY) });
  expect(res.status).toBe(202);
  return service;
}

describe('GET /v1/forecast', () => {
  it('is open to reads by default, even with keys configured', async () => {
    const service = await forecastService();
    const res = await service.app.request(FORECAST);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model: { version: string } }).model.version).toBe('security-test');
  });

  it('with FARESIGHT_REQUIRE_KEY_FOR_READS: 401 without or with a wrong key, 403 for a write-only key, 200 for read keys', async () => {
    const service = await forecastService({ FARESIGHT_REQUIRE_KEY_FOR_READS: 'true' });
    const missing = await service.app.request(FORECAST);
    await expectEnvelope(missing, 401, 'unauthorized');
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectEnvelope(await service.app.request(FORECAST, { headers: bearer(UNKNOWN_KEY) }), 401, 'unauthorized');
    await expectEnvelope(await service.app.request(FORECAST, { headers: bearer(WRITE_KEY) }), 403, 'forbidden');
    expect((await service.app.request(FORECAST, { headers: bearer(READ_KEY) })).status).toBe(200);
    expect((await service.app.request(FORECAST, { headers: bearer(ADMIN_KEY) })).status).toBe(200);
  });

  it('checks the key before the query: a bad query without a key is a 401, not a 400', async () => {
    const service = await forecastService({ FARESIGHT_REQUIRE_KEY_FOR_READS: 'true' });
    await expectEnvelope(await service.app.request('/v1/forecast?origin=<script>'), 401, 'unauthorized');
  });

  it('answers 429 with Retry-After once the reader spends its budget', async () => {
    const service = await forecastService({ FARESIGHT_RATE_LIMIT_PER_MINUTE: '3' });
    for (let i = 0; i < 3; i++) expect((await service.app.request(FORECAST, { headers: bearer(READ_KEY) })).status).toBe(200);
    const limited = await service.app.request(FORECAST, { headers: bearer(READ_KEY) });
    await expectEnvelope(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('echoes no markup from the query into its errors', async () => {
    const service = await forecastService();
    const res = await service.app.request('/v1/forecast?origin=%3Cscript%3E&destination=BUD&departureDate=2016-04-20');
    const body = await expectEnvelope(res, 400, 'invalid_request');
    expect(JSON.stringify(body)).not.toContain('<script>');
  });
});
