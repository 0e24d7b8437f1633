import { afterEach, describe, expect, it } from 'vitest';
import { body, type ErrorBody } from '../helpers/http.js';
import { closeServices, countRows, makeService } from '../helpers/service.js';

afterEach(closeServices);

describe('a request the routes do not answer', () => {
  it('is a 405 with the Allow header when the path exists under other methods', async () => {
    const service = makeService();
    const res = await service.app.request('/v1/events', { method: 'GET' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    const refused = await body<ErrorBody>(res);
    expect(refused.error.code).toBe('method_not_allowed');
    expect(refused.error.message).toContain('POST');
  });

  it('lists HEAD beside GET, and matches paths with parameters', async () => {
    const service = makeService();
    const forecast = await service.app.request('/v1/forecast', { method: 'DELETE' });
    expect(forecast.status).toBe(405);
    expect(forecast.headers.get('allow')).toBe('GET, HEAD');
    const promote = await service.app.request('/v1/models/m20260101-000000-abcd/promote', { method: 'GET' });
    expect(promote.status).toBe(405);
    expect(promote.headers.get('allow')).toBe('POST');
    const departures = await service.app.request('/v1/routes/BCN-BUD/departures', { method: 'PUT' });
    expect(departures.status).toBe(405);
    expect(departures.headers.get('allow')).toBe('GET, HEAD');
  });

  it('stores nothing when refused', async () => {
    const service = makeService();
    const event = { origin: 'BCN', destination: 'BUD', departureDate: '2016-04-20', observedAt: '2016-04-01T09:00:00Z', price: 69.99, currency: 'EUR' };
    const res = await service.app.request('/v1/events', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(res.status).toBe(405);
    expect(countRows(service, 'event_log')).toBe(0);
  });

  it('is a 404 when no route has the path', async () => {
    const service = makeService();
    for (const [method, path] of [
      ['GET', '/v1/nope'],
      ['POST', '/v1/events/extra'],
      ['GET', '/v1/models/x/promote/more'],
    ]) {
      const res = await service.app.request(path, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.headers.get('allow')).toBeNull();
      expect((await body<ErrorBody>(res)).error.code).toBe('not_found');
    }
  });
});
