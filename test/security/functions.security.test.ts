import { afterEach, describe, expect, it } from 'vitest';
import { closeServices } from '../helpers/index.js';
import { ADMIN_KEY, bearer, expectEnvelope, keyedService, READ_KEY, UNKNOWN_KEY, WRITE_KEY } from './support.js';

afterEach(closeServices);

describe('GET /v1/functions', () => {
  it('is open to reads by default, even with keys configured', async () => {
    const service = keyedService();
    expect((await service.app.request('/v1/functions')).status).toBe(200);
  });

  it('with FARESIGHT_REQUIRE_KEY_FOR_READS: 401 without or with a wrong key, 403 for a write-only key, 200 for read keys', async () => {
    const service = keyedService({ FARESIGHT_REQUIRE_KEY_FOR_READS: 'true' });
    const res = await service.app.request('/v1/functions');
    await expectEnvelope(res, 401, 'unauthorized');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectEnvelope(await service.app.request('/v1/functions', { headers: bearer(UNKNOWN_KEY) }), 401, 'unauthorized');
    await expectEnvelope(await service.app.request('/v1/functions', { headers: bearer(WRITE_KEY) }), 403, 'forbidden');
    expect((await service.app.request('/v1/functions', { headers: bearer(READ_KEY) })).status).toBe(200);
    expect((await service.app.request('/v1/functions', { headers: bearer(ADMIN_KEY) })).status).toBe(200);
  });

  it('answers 429 with Retry-After once the reader spends its budget', async () => {
    const service = keyedService({ FARESIGHT_RATE_LIMIT_PER_MINUTE: '3' });
    for (let i = 0; i < 3; i++) expect((await service.app.request('/v1/functions', { headers: bearer(READ_KEY) })).status).toBe(200);
    const limited = await service.app.request('/v1/functions', { headers: bearer(READ_KEY) });
    await expectEnvelope(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
