import { afterEach, describe, expect, it } from 'vitest';
import { closeForecastServices, createModelDouble, createSwappableProvider, makeForecastService } from '../helpers/forecast.js';
import { fareSeries, post } from '../helpers/index.js';
import { bearer, expectEnvelope, KEYS_ENV, READ_KEY, UNKNOWN_KEY, WRITE_KEY } from './support.js';

afterEach(closeForecastServices);

const PATHS = ['/v1/routes', '/v1/routes/BCN-BUD/departures'];

async function routesService(config: Record<string, string> = {}) {
  const provider = createSwappableProvider(createModelDouble({ version: 'security-test' }));
  const service = makeForecastService(provider, { config: { FARESIGHT_API_KEYS: KEYS_ENV, ...config } });
  expect((await post(service.app, fareSeries(3), { wait: 'true', headers: bearer(WRITE_KEY) })).status).toBe(202);
  return service;
}

describe('GET /v1/routes and /v1/routes/{route}/departures', () => {
  it('are open to reads by default, even with keys configured', async () => {
    const service = await routesService();
    for (const path of PATHS) expect((await service.app.request(path)).status, path).toBe(200);
  });

  it('with FARESIGHT_REQUIRE_KEY_FOR_READS: 401 without or with a wrong key, 403 for a write-only key, 200 for a read key', async () => {
    const service = await routesService({ FARESIGHT_REQUIRE_KEY_FOR_READS: 'true' });
    for (const path of PATHS) {
      await expectEnvelope(await service.app.request(path), 401, 'unauthorized');
      await expectEnvelope(await service.app.request(path, { headers: bearer(UNKNOWN_KEY) }), 401, 'unauthorized');
      await expectEnvelope(await service.app.request(path, { headers: bearer(WRITE_KEY) }), 403, 'forbidden');
      expect((await service.app.request(path, { headers: bearer(READ_KEY) })).status, path).toBe(200);
    }
    // The key is checked before the route parameter.
    await expectEnvelope(await service.app.request('/v1/routes/not-a-route/departures'), 401, 'unauthorized');
  });

  it('answer 429 with Retry-After once the reader spends its budget, across both paths', async () => {
    const service = await routesService({ FARESIGHT_RATE_LIMIT_PER_MINUTE: '4' });
    for (let i = 0; i < 2; i++) for (const path of PATHS) expect((await service.app.request(path, { headers: bearer(READ_KEY) })).status).toBe(200);
    const limited = await service.app.request(PATHS[0], { headers: bearer(READ_KEY) });
    await expectEnvelope(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
