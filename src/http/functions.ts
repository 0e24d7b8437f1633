import { createRoute, z } from '@hono/zod-openapi';
import { requireScope } from './auth.js';
import type { App, AppDeps } from './context.js';
import { errorResponses } from './envelope.js';

export const FunctionStatsSchema = z
  .object({
    id: z.string(),
    triggers: z.array(z.string()),
    batch: z.object({ maxSize: z.number().int(), maxWaitMs: z.number() }),
    retries: z.number().int(),
    invocations: z.number().int(),
    failures: z.number().int(),
    retriesAttempted: z.number().int(),
    deadLetters: z.number().int(),
    lag: z.number().int().openapi({ description: 'Events not yet processed by this function.' }),
    durationMs: z.object({ p50: z.number().nullable(), p99: z.number().nullable() }),
    delivery: z.enum(['log', 'inline']).openapi({
      description:
        '`log`: reads its triggers from the durable event log through its own cursor. `inline`: its triggers are handed over in memory inside the invocation that emits them and it commits in that transaction, so its lag is always 0 and its failures are retried and dead-lettered with the triggering function.',
    }),
  })
  .openapi('FunctionStats');

const listFunctions = createRoute({
  method: 'get',
  path: '/v1/functions',
  tags: ['Runtime'],
  summary: 'List functions with their trigger, counters, lag and durations',
  responses: {
    200: {
      description: 'Every registered function.',
      content: { 'application/json': { schema: z.object({ functions: z.array(FunctionStatsSchema) }) } },
    },
    ...errorResponses(401, 403),
  },
});

export function registerFunctions(app: App, deps: AppDeps): void {
  app.use('/v1/functions', requireScope('read', deps.auth));
  app.openapi(listFunctions, (c) =>
    c.json({ functions: deps.runtime.stats().map((s) => ({ ...s, triggers: [...s.triggers] })) }, 200),
  );
}
