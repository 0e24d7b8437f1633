import { createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler, TypedResponse } from 'hono';
import { FareEventInput, routeKeyOf, seriesKeyOf } from '../events/fare-event.js';
import { AppError } from '../errors.js';
import { assembleForecastParts, latestFeatureRow } from '../forecast/assemble.js';
import { renderForecast } from '../forecast/json.js';
import { outlookPricesOfCurve } from '../forecast/outlook.js';
import { createRenderCache, type RenderedForecast } from '../forecast/render-cache.js';
import { packedPairs, routeStatsKeyOf } from '../model/features.js';
import { requireScope } from './auth.js';
import type { App, AppDeps, AppEnv } from './context.js';
import { errorResponses } from './envelope.js';
import { completeJsonResponse, ifNoneMatchHits, notModifiedResponse, requestHeader } from './headers.js';

// The query is validated by the same field schemas as fare events: codes are
// case-insensitive and upper-cased, dates must be real calendar days.
const fareFields = FareEventInput.shape;

const Money = (description: string) => z.number().openapi({ description: `${description} Rounded to cents.` });

const PriceRangeSchema = z
  .object({ low: z.number(), high: z.number() })
  .openapi('PriceRange', { description: 'A price range in the series’ currency, rounded to cents.' });

/** The public forecast of one series. Names are stable; fields are only ever added. */
export const ForecastSchema = z
  .object({
    origin: z.string().openapi({ description: 'IATA code of the origin airport.', example: 'BCN' }),
    destination: z.string().openapi({ description: 'IATA code of the destination airport.', example: 'BUD' }),
    departureDate: z.string().openapi({ description: 'The departure date, YYYY-MM-DD.', example: '2016-04-20' }),
    asOf: z.string().openapi({
      description: 'observedAt of the latest fare event of this series that the forecast was computed from (UTC ISO 8601).',
    }),
    daysBefore: z.number().int().openapi({ description: 'Whole days from asOf’s (UTC) day to the departure date.' }),
    currency: z.string().openapi({ description: 'ISO 4217 currency of every price in this forecast.', example: 'EUR' }),
    currentPrice: Money('The price observed at asOf.'),
    recommendation: z.enum(['buy', 'wait']).openapi({
      description: '`wait` when a cheaper price before departure is more likely than not (probabilityCheaperLater > 0.5), else `buy`.',
    }),
    confidence: z.number().openapi({
      description: 'The probability that the recommendation is right: probabilityCheaperLater for wait, 1 − it for buy. In [0.5, 1].',
    }),
    probabilityCheaperLater: z.number().openapi({
      description: 'The model’s probability that a strictly cheaper price appears before departure. In [0, 1].',
    }),
    expectedLowestPrice: Money(
      'The median of the lowest price from now to departure (the current price included), so never above currentPrice; equal to it when the recommendation is buy.',
    ),
    lowestPriceRange: PriceRangeSchema.openapi({
      description:
        '80% interval of the lowest price to come: low ≤ expectedLowestPrice ≤ high ≤ currentPrice; high is currentPrice unless probabilityCheaperLater is above 0.9.',
    }),
    priceLevel: z.enum(['low', 'typical', 'high']).nullable().openapi({
      description: 'The current price against typicalPriceRange: below it low, above it high. Null while the route has too few observations at this many days before departure.',
    }),
    typicalPriceRange: PriceRangeSchema.nullable().openapi({
      description: 'The middle half (25th to 75th percentile) of the route’s prices at this many days before departure, in this currency. Null while unknown.',
    }),
    outlook: z
      .array(z.object({ daysBefore: z.number().int(), expectedPrice: z.number() }))
      .openapi({
        description:
          'The expected price on each remaining day, from the day after asOf down to the departure day (daysBefore 0): the current price bent towards the route’s typical price curve, price × exp((1 − e^(−h/7)) × trend), where trend is the route’s typical log-price change to that day and h the days ahead. Empty on the departure day.',
      }),
    history: z
      .array(z.object({ observedAt: z.string(), price: z.number() }))
      .openapi({ description: 'The series’ observed prices up to asOf, in time order.' }),
    model: z
      .object({ version: z.string(), trainedAt: z.string() })
      .openapi({ description: 'The model that made this forecast.' }),
  })
  .openapi('Forecast');

const ForecastQuery = z
  .object({
    origin: fareFields.origin.meta({ description: 'IATA code of the origin airport; any case.', example: 'BCN' }),
    destination: fareFields.destination.meta({ description: 'IATA code of the destination airport; any case.', example: 'BUD' }),
    departureDate: fareFields.departureDate.meta({ description: 'The departure date, YYYY-MM-DD.', example: '2016-04-20' }),
  })
  .superRefine((query, ctx) => {
    if (query.origin === query.destination) {
      ctx.addIssue({ code: 'custom', path: ['destination'], message: 'destination must differ from origin' });
    }
  });

const getForecast = createRoute({
  method: 'get',
  path: '/v1/forecast',
  tags: ['Forecasts'],
  summary: 'The forecast of one route and departure date: buy or wait',
  description:
    'The latest forecast of the series, as of its latest processed fare event, with its price history. 404 while no fare event of the series was received; 503 while no model is loaded.',
  request: { query: ForecastQuery },
  responses: {
    200: {
      description: 'The forecast.',
      headers: z.object({
        ETag: z.string().openapi({ description: 'A strong entity tag of this body: send it as If-None-Match to ask whether the forecast changed.' }),
        'Cache-Control': z.string().openapi({ description: '`no-cache`: the body may be kept, but is asked for again (If-None-Match) before use.' }),
      }),
      content: { 'application/json': { schema: ForecastSchema } },
    },
    304: {
      description: 'Not modified: the forecast is still the one whose ETag the request sent in If-None-Match. No body.',
      headers: z.object({ ETag: z.string(), 'Cache-Control': z.string() }),
    },
    ...errorResponses(400, 401, 403, 404, 429, 503),
  },
});

type ForecastBody = z.infer<typeof ForecastSchema>;

type ForecastResponse = Response & (TypedResponse<ForecastBody, 200, 'json'> | TypedResponse<null, 304, 'body'>);

/**
 * The response for a rendered forecast, built by hand and typed as what it holds by
 * construction: 304 when the request's If-None-Match names its entity tag, else the body.
 */
function respondWith(c: Context<AppEnv>, rendered: RenderedForecast): ForecastResponse {
  const res = ifNoneMatchHits(requestHeader(c, 'if-none-match'), rendered.etag)
    ? notModifiedResponse(c, rendered.etag)
    : completeJsonResponse(c, rendered.body, { etag: rendered.etag });
  return res as ForecastResponse;
}

/** Validated queries remembered by their text; beyond this many, the memory starts over. */
const MAX_KNOWN_QUERIES = 50_000;

/** The query string of a request URL, as sent (without the `?`). */
function rawQuery(url: string): string {
  const at = url.indexOf('?');
  return at < 0 ? '' : url.slice(at + 1);
}

/** GET /v1/forecast: the stored forecast of a series, or one computed on read for series no model has seen yet. */
export function registerForecast(app: App, deps: AppDeps): void {
  const { forecasts, series, routes, model: models } = deps.functionDeps;
  app.use('/v1/forecast', requireScope('read', deps.auth));
  // Rendered responses, checked against the stored forecast's stamp whenever the store's generation moved.
  const cacheMb = deps.config.FARESIGHT_FORECAST_CACHE_MB;
  const rendered = createRenderCache(cacheMb === undefined ? undefined : cacheMb * 1024 * 1024);
  const stampOf = (key: string) => forecasts.stamp(key);
  // The series key of each query text validated before: validation is a function of the text
  // alone, so a repeated query is answered without parsing it again.
  const knownQueries = new Map<string, string>();
  const remember = (query: string, key: string) => {
    if (knownQueries.size >= MAX_KNOWN_QUERIES) knownQueries.clear();
    knownQueries.set(query, key);
  };
  /** The cached response for a series when it is current; the generation is taken before any stamp is read. */
  const cached = (c: Context<AppEnv>, key: string): Response | undefined => {
    const generation = forecasts.generation();
    const hit = generation === undefined ? undefined : rendered.get(key, generation, stampOf);
    return hit && respondWith(c, hit);
  };
  // A query seen before for a forecast rendered before and still current: answered here,
  // before validation and the handler; anything else goes on to them.
  const fromCache: MiddlewareHandler<AppEnv> = async (c, next) => {
    const key = knownQueries.get(rawQuery(c.req.url));
    const res = key === undefined ? undefined : cached(c, key);
    if (res) return res;
    await next();
  };
  app.openapi({ ...getForecast, middleware: [fromCache] as [MiddlewareHandler] }, (c) => {
    const query = c.req.valid('query');
    const key = seriesKeyOf(query);
    remember(rawQuery(c.req.url), key);
    const generation = forecasts.generation();
    const hit = generation === undefined ? undefined : rendered.get(key, generation, stampOf);
    if (hit) return respondWith(c, hit);
    const stored = forecasts.read(key);
    if (stored) {
      // The stored core JSON is served as is, with the outlook and history spliced in as text.
      const fresh = renderForecast(stored.coreJson, stored.outlookPrices, stored.points, stored.asOfMs);
      if (generation !== undefined) rendered.set(key, stored, generation, fresh);
      return respondWith(c, fresh);
    }
    const state = series.load([key]).get(key);
    if (!state || state.points.length === 0) {
      throw new AppError('not_found', `no fare event for ${routeKeyOf(query)} departing ${query.departureDate} yet`);
    }
    // One model reference for the whole request, so a swap cannot mix two models.
    const model = models.current();
    if (!model) throw new AppError('unavailable', 'no model is loaded; forecasts start once one is trained and promoted');
    // Events arrived before any model was serving: forecast the latest observation now (nothing is stored).
    const stats = routes.load([routeStatsKeyOf(state)]).get(routeStatsKeyOf(state));
    const row = latestFeatureRow(state, stats);
    const [prediction] = model.predict([row.vector]);
    const { core, outlookCurve } = assembleForecastParts({ row, prediction, model, routeStats: stats });
    const pairs = packedPairs(state.points);
    const last = pairs[pairs.length - 2];
    return respondWith(c, renderForecast(JSON.stringify(core), outlookPricesOfCurve(outlookCurve), pairs, last));
  });
}
