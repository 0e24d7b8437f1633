import { afterEach, describe, expect, it } from 'vitest';
import { closeServices, fareEvent, makeService, post } from '../helpers/index.js';
import { expectEnvelope, expectNoLeak } from './support.js';

afterEach(closeServices);

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'SAMEORIGIN',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

function expectSecurityHeaders(res: Response, what: string): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name), `${name} on ${what}`).toBe(value);
  expect(res.headers.get('x-powered-by'), what).toBeNull();
  expect(res.headers.get('x-request-id'), what).toEqual(expect.any(String));
}

describe('responses', () => {
  it('carry the security headers on success, on errors and on unknown paths', async () => {
    const service = makeService();
    expectSecurityHeaders(await service.app.request('/healthz'), 'GET /healthz');
    expectSecurityHeaders(await service.app.request('/v1/functions'), 'GET /v1/functions');
    expectSecurityHeaders(await post(service.app, fareEvent()), 'POST /v1/events 202');
    expectSecurityHeaders(await post(service.app, '{'), 'POST /v1/events 400');
    expectSecurityHeaders(await service.app.request('/nope'), '404');
  });

  it('never carry a stack trace or the message of an unexpected error', async () => {
    const service = makeService();
    service.app.get('/v1/test-explodes', () => {
      throw new Error('secret detail: /home/ops/.env at line 3');
    });
    const res = await service.app.request('/v1/test-explodes');
    const body = await expectEnvelope(res, 500, 'internal');
    expect(JSON.stringify(body)).not.toContain('secret detail');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answer unknown paths and methods with the envelope, echoing no markup', async () => {
    const service = makeService();
    const res = await service.app.request('/v1/<script>alert(1)</script>');
    const body = await expectEnvelope(res, 404, 'not_found');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expectNoLeak(JSON.stringify(body));
    await expectEnvelope(await service.app.request('/v1/events', { method: 'DELETE' }), 405, 'method_not_allowed');
    // A parameter segment with markup: the path is matched, and the answer is still JSON.
    const wrongMethod = await service.app.request('/v1/models/<b>x<%2Fb>/promote');
    await expectEnvelope(wrongMethod, 405, 'method_not_allowed');
    expect(wrongMethod.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('hide the cause when the database is gone (503 for locked or full storage: test/faults/)', async () => {
    const service = makeService();
    service.database.sqlite.close();
    const res = await post(service.app, fareEvent());
    // A closed connection is not a SQLite error code, so this is the generic 500 envelope.
    expect(res.status).toBe(500);
    const text = await res.text();
    expectNoLeak(text);
    expect(text).not.toMatch(/database connection is not open/);
  });
});
