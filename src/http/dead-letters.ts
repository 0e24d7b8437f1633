import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.js';
import { requireScope } from './auth.js';
import type { App, AppDeps } from './context.js';
import { errorResponses } from './envelope.js';
import { describeDeadLetter } from '../runtime/dead-letters.js';

export const DeadLetterSchema = z
  .object({
    id: z.number().int(),
    functionId: z.string(),
    seq: z.number().int().openapi({ description: 'The event’s position in the log.' }),
    series: z.string(),
    attempts: z.number().int(),
    error: z.string().nullable(),
    failedAt: z.string(),
    event: z.object({ type: z.string(), payload: z.unknown() }).nullable(),
  })
  .openapi('DeadLetter');

const listDeadLetters = createRoute({
  method: 'get',
  path: '/v1/dead-letters',
  tags: ['Runtime'],
  summary: 'List events whose retries were spent',
  request: {
    query: z.object({
      function: z.string().optional(),
      after: z.coerce.number().int().min(0).optional().openapi({ description: 'Return ids after this one.' }),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
  },
  responses: {
    200: {
      description: 'Dead letters in id order.',
      content: { 'application/json': { schema: z.object({ deadLetters: z.array(DeadLetterSchema) }) } },
    },
    ...errorResponses(400, 401, 403),
  },
});

const replayDeadLetter = createRoute({
  method: 'post',
  path: '/v1/dead-letters/{id}/replay',
  tags: ['Runtime'],
  summary: 'Put a dead letter back in line for its function',
  security: [{ bearerAuth: [] }],
  request: { params: z.object({ id: z.coerce.number().int().min(1) }) },
  responses: {
    202: {
      description: 'Queued for another delivery.',
      content: { 'application/json': { schema: z.object({ id: z.number().int(), replayed: z.literal(true) }) } },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

export function registerDeadLetters(app: App, deps: AppDeps): void {
  app.use('/v1/dead-letters', requireScope('read', deps.auth));
  app.use('/v1/dead-letters/:id/replay', requireScope('write', deps.auth));
  app.openapi(listDeadLetters, (c) => {
    const { function: functionId, after, limit } = c.req.valid('query');
    const dead = deps.storage.deliveries.listDead({ functionId, afterId: after, limit });
    return c.json(
      {
        deadLetters: dead.map((d) => describeDeadLetter(deps.storage, d)),
      },
      200,
    );
  });
  app.openapi(replayDeadLetter, (c) => {
    const { id } = c.req.valid('param');
    if (!deps.runtime.replayDeadLetter(id)) throw new AppError('not_found', `no dead letter with id ${id}`);
    return c.json({ id, replayed: true as const }, 202);
  });
}
