import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.js';
import { requestRetrain } from '../functions/retrain.js';
import { isValidVersion, loadModel, readPointer, writePointer } from '../model/artifacts.js';
import { initTensorflow } from '../model/tf.js';
import { requireScope } from './auth.js';
import type { App, AppDeps } from './context.js';
import { errorResponses } from './envelope.js';

const Metric = z.number().nullable();

export const ModelRecordSchema = z
  .object({
    version: z.string(),
    createdAt: z.string(),
    status: z.enum(['promoted', 'rejected', 'failed']).openapi({
      description: 'How the retrain ended; promoted models served from then on (until replaced).',
    }),
    serving: z.boolean().openapi({ description: 'Whether models/current names this version now.' }),
    reason: z.string().openapi({ description: 'What asked for the retrain.' }),
    decision: z.string().openapi({ description: 'Why it was promoted or not.' }),
    window: z.object({
      from: z.string().nullable(),
      to: z.string().nullable(),
      holdoutFrom: z.string().nullable().openapi({ description: 'The held-out slice the challenger was judged on starts here.' }),
      events: z.number().int(),
    }),
    metrics: z.record(z.string(), z.unknown()).openapi({
      description: 'challenger and incumbent figures on the held-out slice (savings % of optimal, AUC, …) and training figures.',
    }),
    error: z.string().nullable(),
  })
  .openapi('ModelRecord');

const ServingSchema = z
  .object({ version: z.string(), trainedAt: z.string(), backend: z.string(), waitThreshold: Metric.optional() })
  .nullable()
  .openapi('ServingModel');

const listModels = createRoute({
  method: 'get',
  path: '/v1/models',
  tags: ['Models'],
  summary: 'List retrains (newest first) and the serving model',
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }) },
  responses: {
    200: {
      description: 'The serving model, the version models/current names, and every recorded retrain.',
      content: {
        'application/json': {
          schema: z.object({ serving: ServingSchema, pointer: z.string().nullable(), models: z.array(ModelRecordSchema) }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 503),
  },
});

const promoteModel = createRoute({
  method: 'post',
  path: '/v1/models/{version}/promote',
  tags: ['Models'],
  summary: 'Serve this version (a rollback or a manual promotion)',
  security: [{ bearerAuth: [] }],
  request: { params: z.object({ version: z.string().min(1).max(100) }) },
  responses: {
    200: {
      description: 'models/current now names this version and the service serves it.',
      content: {
        'application/json': {
          schema: z.object({ serving: z.string(), previous: z.string().nullable() }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 404, 409, 503),
  },
});

const retrainModel = createRoute({
  method: 'post',
  path: '/v1/models/retrain',
  tags: ['Models'],
  summary: 'Ask for a retrain now',
  description: 'Appends a retrain.requested event; the retrain function trains in the background. Follow it in GET /v1/models.',
  security: [{ bearerAuth: [] }],
  request: {
    body: {
      required: false,
      content: { 'application/json': { schema: z.object({ reason: z.string().min(1).max(200).optional() }) } },
    },
  },
  responses: {
    202: {
      description: 'Requested.',
      content: { 'application/json': { schema: z.object({ requested: z.literal(true), seq: z.number().int() }) } },
    },
    ...errorResponses(400, 401, 403, 503),
  },
});

function retrainDepsOf(deps: AppDeps) {
  const retrain = deps.functionDeps.retrain;
  if (!retrain) throw new AppError('unavailable', 'model management is not configured in this service');
  return retrain;
}

export function registerModels(app: App, deps: AppDeps): void {
  app.use('/v1/models', requireScope('read', deps.auth));
  app.use('/v1/models/retrain', requireScope('write', deps.auth));
  app.use('/v1/models/:version/promote', requireScope('write', deps.auth));

  app.openapi(listModels, async (c) => {
    const retrain = retrainDepsOf(deps);
    const { limit } = c.req.valid('query');
    const pointer = (await readPointer(retrain.modelsDir).catch(() => undefined)) ?? null;
    const current = deps.functionDeps.model.current();
    return c.json(
      {
        serving: current
          ? { version: current.version, trainedAt: current.trainedAt, backend: current.backend, waitThreshold: current.waitThreshold ?? null }
          : null,
        pointer,
        models: retrain.registry.list(limit).map((m) => ({
          ...m,
          createdAt: new Date(m.createdAt).toISOString(),
          serving: m.version === pointer,
        })),
      },
      200,
    );
  });

  app.openapi(promoteModel, async (c) => {
    const retrain = retrainDepsOf(deps);
    const { version } = c.req.valid('param');
    if (!isValidVersion(version)) throw new AppError('not_found', `no model version "${version}"`);
    const previous = (await readPointer(retrain.modelsDir).catch(() => undefined)) ?? null;
    // Load it once here, so a model that cannot serve is refused before the pointer moves.
    await initTensorflow({ logger: deps.logger });
    try {
      const model = await loadModel(retrain.modelsDir, version);
      model.dispose();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new AppError('not_found', `no model version "${version}"`);
      throw new AppError('conflict', `model ${version} cannot serve: ${error instanceof Error ? error.message : String(error)}`);
    }
    await writePointer(retrain.modelsDir, version);
    await retrain.refreshModel?.();
    retrain.registry.markPromoted(version, `promoted by an operator at ${new Date().toISOString()}`);
    deps.logger.info({ version, previous, by: c.get('apiKeyLabel') }, 'model promoted by an operator');
    return c.json({ serving: version, previous }, 200);
  });

  app.openapi(retrainModel, async (c) => {
    retrainDepsOf(deps);
    let reason = 'operator request';
    if ((c.req.header('content-type') ?? '').includes('application/json')) {
      const body = c.req.valid('json') as { reason?: string } | undefined;
      if (body?.reason) reason = `operator: ${body.reason}`;
    }
    const seq = requestRetrain(deps.storage, reason);
    deps.runtime.notify();
    return c.json({ requested: true as const, seq }, 202);
  });
}
