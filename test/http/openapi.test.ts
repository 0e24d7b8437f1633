import { Validator } from '@seriousme/openapi-schema-validator';
import { afterEach, describe, expect, it } from 'vitest';
import { SCALAR_SCRIPT_PATH } from '../../src/http/docs.js';
import { PAGE_ASSETS } from '../../src/http/page.js';
import { closeForecastServices, createSwappableProvider, makeForecastService } from '../helpers/forecast.js';

afterEach(closeForecastServices);

/** Routes that serve people, not the API: they are not part of the OpenAPI document. */
const NOT_API = new Set(['/', '/docs', '/openapi.json', SCALAR_SCRIPT_PATH, ...Object.keys(PAGE_ASSETS)]);

/** Hono's `/v1/x/:id` (optionally `:id{regex}`) as OpenAPI's `/v1/x/{id}`. */
const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');

async function openapi() {
  const service = makeForecastService(createSwappableProvider(undefined), { start: false });
  const res = await service.app.request('/openapi.json');
  expect(res.status).toBe(200);
  return { service, doc: (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> } };
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3 document', async () => {
    const { doc } = await openapi();
    expect(doc.openapi).toMatch(/^3\./);
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes every route the app serves, and serves every route it describes', async () => {
    const { service, doc } = await openapi();
    const handlers = service.app.routes.filter((r) => r.method !== 'ALL' && !NOT_API.has(r.path));
    expect(handlers.length).toBeGreaterThan(5);
    const missing = handlers
      .map((r) => ({ method: r.method.toLowerCase(), path: toOpenApiPath(r.path) }))
      .filter(({ method, path }) => !doc.paths[path]?.[method]);
    expect(missing).toEqual([]);

    const served = new Set(handlers.map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`));
    const described = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => ['get', 'post', 'put', 'patch', 'delete'].includes(k))
        .map((method) => `${method} ${path}`),
    );
    expect(described.filter((d) => !served.has(d))).toEqual([]);
  });

  it('documents every field of the forecast', async () => {
    const { doc } = await openapi();
    const schema = (doc as any).components.schemas.Forecast;
    expect(Object.keys(schema.properties).sort()).toEqual(
      [
        'origin', 'destination', 'departureDate', 'asOf', 'daysBefore', 'currency', 'currentPrice', 'recommendation',
        'confidence', 'probabilityCheaperLater', 'expectedLowestPrice', 'lowestPriceRange', 'priceLevel',
        'typicalPriceRange', 'outlook', 'history', 'model',
      ].sort(),
    );
    expect(schema.required).toEqual(expect.arrayContaining(Object.keys(schema.properties)));
    const forecastOp = (doc.paths['/v1/forecast'] as any).get;
    expect(Object.keys(forecastOp.responses).sort()).toEqual(['200', '304', '400', '401', '403', '404', '429', '503']);
    expect(Object.keys(forecastOp.responses['200'].headers).sort()).toEqual(['Cache-Control', 'ETag']);
    expect(forecastOp.responses['304'].content).toBeUndefined();
    expect(forecastOp.parameters.map((p: any) => p.name).sort()).toEqual(['departureDate', 'destination', 'origin']);
  });
});

describe('/docs', () => {
  it('serves the interactive reference with its script from this service, not a CDN', async () => {
    const { service } = await openapi();
    const res = await service.app.request('/docs');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`<script src="${SCALAR_SCRIPT_PATH}">`);
    expect(html).toContain('/openapi.json');
    expect(html).not.toMatch(/<script[^>]+src="https?:/);
    const script = await service.app.request(SCALAR_SCRIPT_PATH);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(500_000);
  });

  it('serves the price page and its assets, with no CDN', async () => {
    const { service } = await openapi();
    for (const [path, asset] of Object.entries(PAGE_ASSETS)) {
      const res = await service.app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe(asset.type);
      const text = await res.text();
      expect(text.length).toBeGreaterThan(100);
      if (path === '/') expect(text).not.toMatch(/(src|href)="https?:/);
    }
    expect((await service.app.request('/assets/../package.json')).status).toBe(404);
  });
});
