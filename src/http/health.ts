import { createRoute, z } from '@hono/zod-openapi';
import type { App, AppDeps } from './context.js';

const Readiness = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    checks: z.object({
      database: z.object({ ok: z.boolean(), error: z.string().optional() }),
      lag: z.object({ events: z.number().int() }),
      model: z
        .object({ version: z.string(), trainedAt: z.string(), backend: z.string() })
        .nullable()
        .openapi({ description: 'The serving model; null while none is loaded (forecasts answer 503).' }),
    }),
  })
  .openapi('Readiness');

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['Health'],
  summary: 'Liveness',
  responses: { 200: { description: 'The process is up.', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } } },
});

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['Health'],
  summary: 'Readiness: the database, the model and the lag',
  responses: {
    200: { description: 'Ready to serve.', content: { 'application/json': { schema: Readiness } } },
    503: { description: 'Not ready.', content: { 'application/json': { schema: Readiness } } },
  },
});

export function registerHealth(app: App, deps: AppDeps): void {
  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(readyz, (c) => {
    let database: { ok: boolean; error?: string };
    try {
      deps.database.sqlite.prepare('SELECT 1').get();
      database = { ok: true };
    } catch (error) {
      database = { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    const lag = database.ok ? deps.runtime.stats().reduce((sum, s) => sum + s.lag, 0) : 0;
    const serving = deps.functionDeps.model.current();
    const model = serving ? { version: serving.version, trainedAt: serving.trainedAt, backend: serving.backend } : null;
    const body = {
      status: database.ok ? ('ready' as const) : ('unavailable' as const),
      checks: { database, lag: { events: lag }, model },
    };
    return database.ok ? c.json(body, 200) : c.json(body, 503);
  });
}
