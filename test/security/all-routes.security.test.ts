import { afterEach, describe, expect, it } from 'vitest';
import { closeServices } from '../helpers/index.js';
import { ADMIN_KEY, bearer, expectEnvelope, keyedService, READ_KEY, UNKNOWN_KEY } from './support.js';

afterEach(closeServices);

type Route = { method: string; path: string };

/** Every API route the app serves, with path parameters filled in. */
function apiRoutes(service: ReturnType<typeof keyedService>): Route[] {
  const seen = new Set<string>();
  const out: Route[] = [];
  for (const route of service.app.routes as Route[]) {
    if (route.method === 'ALL' || !route.path.startsWith('/v1/')) continue;
    const path = route.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '1');
    const id = `${route.method} ${path}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ method: route.method, path });
  }
  return out;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// These checks walk the routes the app has, so a route group added later is covered without a new test.
describe('every API route', () => {
  it('finds the routes it checks', () => {
    const routes = apiRoutes(keyedService());
    expect(routes.some((r) => r.method === 'POST' && r.path === '/v1/events')).toBe(true);
    expect(routes.some((r) => r.method === 'POST' && r.path === '/v1/dead-letters/1/replay')).toBe(true);
    expect(routes.some((r) => r.method === 'GET' && r.path === '/v1/functions')).toBe(true);
  });

  it('needs a key with the write scope for every write, checked before anything else', async () => {
    const service = keyedService();
    const writes = apiRoutes(service).filter((r) => WRITE_METHODS.has(r.method));
    expect(writes.length).toBeGreaterThanOrEqual(2);
    for (const route of writes) {
      const init = (headers: Record<string, string>) => ({
        method: route.method,
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
      });
      const missing = await service.app.request(route.path, init({}));
      expect(missing.status, `${route.method} ${route.path} without a key`).toBe(401);
      await expectEnvelope(missing, 401, 'unauthorized');
      const wrong = await service.app.request(route.path, init(bearer(UNKNOWN_KEY)));
      expect(wrong.status, `${route.method} ${route.path} with an unknown key`).toBe(401);
      const readOnly = await service.app.request(route.path, init(bearer(READ_KEY)));
      expect(readOnly.status, `${route.method} ${route.path} with a read-only key`).toBe(403);
      await expectEnvelope(readOnly, 403, 'forbidden');
    }
  });

  it('is open to reads by default, and needs a read key for every read with FARESIGHT_REQUIRE_KEY_FOR_READS', async () => {
    const open = keyedService();
    const reads = apiRoutes(open).filter((r) => r.method === 'GET');
    expect(reads.length).toBeGreaterThanOrEqual(2);
    for (const route of reads) {
      const res = await open.app.request(route.path);
      expect([401, 403], `${route.method} ${route.path} should be open`).not.toContain(res.status);
    }
    const closed = keyedService({ FARESIGHT_REQUIRE_KEY_FOR_READS: 'true' });
    for (const route of reads) {
      const missing = await closed.app.request(route.path);
      expect(missing.status, `${route.method} ${route.path} without a key`).toBe(401);
      const wrong = await closed.app.request(route.path, { headers: bearer(UNKNOWN_KEY) });
      expect(wrong.status, `${route.method} ${route.path} with an unknown key`).toBe(401);
      const allowed = await closed.app.request(route.path, { headers: bearer(ADMIN_KEY) });
      expect([401, 403], `${route.method} ${route.path} with a key`).not.toContain(allowed.status);
    }
  });

  it('keeps health checks and the API description open, whatever the key settings', async () => {
    const service = keyedService({ FARESIGHT_REQUIRE_KEY_FOR_READS: 'true', FARESIGHT_RATE_LIMIT_PER_MINUTE: '1' });
    for (let i = 0; i < 3; i++) {
      expect((await service.app.request('/healthz')).status).toBe(200);
      expect((await service.app.request('/readyz')).status).toBeLessThan(400);
      expect((await service.app.request('/openapi.json')).status).toBe(200);
    }
  });

  it('declares bearer security in the API description for every write', async () => {
    const service = keyedService();
    const doc = (await (await service.app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (!WRITE_METHODS.has(method.toUpperCase())) continue;
        expect(operation.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
      }
    }
  });
});
