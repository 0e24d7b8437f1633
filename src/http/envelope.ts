import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ERROR_CODES, AppError, statusOf, type Issue } from '../errors.js';

/** The one error envelope every failing response uses. */
export const ErrorEnvelope = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      requestId: z.string().optional(),
      issues: z
        .array(z.object({ index: z.number().int(), path: z.string(), message: z.string() }))
        .optional(),
    }),
  })
  .openapi('Error');

export type ErrorEnvelope = z.infer<typeof ErrorEnvelope>;

/** OpenAPI response entries for the given error statuses. */
export function errorResponses<const S extends number>(...statuses: S[]) {
  const out = {} as Record<S, { description: string; content: { 'application/json': { schema: typeof ErrorEnvelope } } }>;
  for (const status of statuses) {
    out[status] = { description: `Error (${status})`, content: { 'application/json': { schema: ErrorEnvelope } } };
  }
  return out;
}

/** Renders an AppError as the envelope, with its status and headers. */
export function renderError(c: Context, error: AppError): Response {
  const body: ErrorEnvelope = {
    error: {
      code: error.code,
      message: error.message,
      requestId: c.get('requestId') as string | undefined,
      ...(error.details.issues ? { issues: error.details.issues.slice(0, 100) } : {}),
    },
  };
  if (error.details.retryAfterSeconds !== undefined) c.header('Retry-After', String(error.details.retryAfterSeconds));
  if (error.details.allow) c.header('Allow', error.details.allow.join(', '));
  return c.json(body, statusOf(error.code));
}

/** Turns zod issues of item `index` into envelope issues. */
export function zodIssues(error: z.ZodError, index = 0): Issue[] {
  return error.issues.map((issue) => ({
    index,
    path: issue.path.join('.'),
    message: issue.message,
  }));
}
