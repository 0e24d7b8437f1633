import { createRoute, z } from '@hono/zod-openapi';
import { isCalendarDate } from '../events/fare-event.js';
import { requireScope } from './auth.js';
import type { App, AppDeps } from './context.js';
import { errorResponses } from './envelope.js';

export const RouteSummarySchema = z
  .object({
    origin: z.string().openapi({ example: 'BCN' }),
    destination: z.string().openapi({ example: 'BUD' }),
    currency: z.string().openapi({ description: 'The currency of its fares; a route priced in two currencies is listed twice.' }),
    series: z.number().int().openapi({ description: 'Departure dates seen on this route.' }),
    observations: z.number().int().openapi({ description: 'Fare events folded into its series.' }),
    forecasts: z.number().int().openapi({ description: 'Series with a stored forecast.' }),
    latestObservedAt: z.string().openapi({ description: 'The latest observedAt on this route.' }),
    firstDepartureDate: z.string(),
    lastDepartureDate: z.string(),
  })
  .openapi('RouteSummary');

export const DepartureSchema = z
  .object({
    departureDate: z.string(),
    series: z.string().openapi({ description: 'The series key, ORIGIN-DESTINATION-YYYY-MM-DD.' }),
    currency: z.string(),
    observations: z.number().int(),
    lastObservedAt: z.string(),
    latestPrice: z.number().openapi({ description: 'The price of the latest observation.' }),
    forecast: z
      .object({
        asOf: z.string(),
        recommendation: z.enum(['buy', 'wait']),
        confidence: z.number(),
        probabilityCheaperLater: z.number(),
        expectedLowestPrice: z.number(),
        priceLevel: z.enum(['low', 'typical', 'high']).nullable(),
        modelVersion: z.string(),
      })
      .nullable()
      .openapi({ description: 'The latest stored forecast in brief (GET /v1/forecast has all of it); null while none is stored.' }),
  })
  .openapi('Departure');

const date = (name: string) =>
  z
    .string()
    .refine(isCalendarDate, { error: `${name} must be a real calendar date as YYYY-MM-DD` })
    .optional()
    .openapi({ description: `Departure dates ${name === 'from' ? 'on or after' : 'on or before'} this day, YYYY-MM-DD.` });

const listRoutes = createRoute({
  method: 'get',
  path: '/v1/routes',
  tags: ['Forecasts'],
  summary: 'Routes with observations, series and the latest observation time',
  responses: {
    200: {
      description: 'Every route that received fare events, by origin and destination.',
      content: { 'application/json': { schema: z.object({ routes: z.array(RouteSummarySchema) }) } },
    },
    ...errorResponses(401, 403, 429),
  },
});

const listDepartures = createRoute({
  method: 'get',
  path: '/v1/routes/{route}/departures',
  tags: ['Forecasts'],
  summary: 'The departures (series) of a route, each with its latest forecast in brief',
  request: {
    params: z.object({
      route: z
        .string()
        .regex(/^[A-Za-z]{3}-[A-Za-z]{3}$/, { error: 'route must be ORIGIN-DESTINATION, e.g. BCN-BUD' })
        .transform((r) => r.toUpperCase())
        .openapi({ description: 'ORIGIN-DESTINATION as IATA codes, any case.', example: 'BCN-BUD' }),
    }),
    query: z
      .object({
        from: date('from'),
        to: date('to'),
        limit: z.coerce.number().int().min(1).max(5000).default(1000),
      })
      .superRefine((q, ctx) => {
        if (q.from && q.to && q.from > q.to) ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must not be before from' });
      }),
  },
  responses: {
    200: {
      description: 'Departures in date order; an unknown route has none.',
      content: {
        'application/json': {
          schema: z.object({ origin: z.string(), destination: z.string(), departures: z.array(DepartureSchema) }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 429),
  },
});

/** GET /v1/routes and GET /v1/routes/{route}/departures: what there is to forecast, for pickers such as the price page. */
export function registerRoutes(app: App, deps: AppDeps): void {
  const { forecasts } = deps.functionDeps;
  app.use('/v1/routes', requireScope('read', deps.auth));
  app.use('/v1/routes/*', requireScope('read', deps.auth));
  app.openapi(listRoutes, (c) => c.json({ routes: forecasts.routes() }, 200));
  app.openapi(listDepartures, (c) => {
    const { route } = c.req.valid('param');
    const { from, to, limit } = c.req.valid('query');
    const [origin, destination] = route.split('-');
    return c.json({ origin, destination, departures: forecasts.departures({ origin, destination, from, to, limit }) }, 200);
  });
}
