import { OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from './errors.js';
import type { AppDeps, AppEnv } from './http/context.js';
import { renderError, zodIssues } from './http/envelope.js';
import { responseHeaders } from './http/headers.js';
import { routes } from './http/index.js';
import { createRateLimiter, rateLimit } from './http/rate-limit.js';

function toAppError(error: unknown, deps: AppDeps): AppError | undefined {
  if (error instanceof AppError) return error;
  // Storage failures mean "try again later", not "your request is wrong".
  if (deps.storage.isUnavailable(error)) {
    return new AppError('unavailable', 'storage is unavailable; nothing from this request was stored, try again', {
      retryAfterSeconds: 1,
    });
  }
  return undefined;
}

/**
 * The methods the app's routes answer for a path (HEAD with GET), for a 405 with its Allow
 * header instead of a 404 when the path exists. Asks the app's own router, so a path matches
 * exactly as a request would; middleware (method ALL) does not count.
 */
function methodsByPath(app: OpenAPIHono<AppEnv>): (path: string) => string[] {
  return (path) => {
    const methods = new Set<string>();
    for (const method of new Set(app.routes.map((route) => route.method))) {
      if (method === 'ALL') continue;
      const [matches] = app.router.match(method, path);
      if (matches.some(([[, route]]) => route.method === method)) methods.add(method);
    }
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

/** Builds the HTTP app over already-built dependencies. It has no side effects. */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        return renderError(
          c,
          new AppError('invalid_request', 'the request parameters are invalid', { issues: zodIssues(result.error) }),
        );
      }
    },
  });
  // A request id, the security headers and X-Request-Id on every response.
  app.use('*', responseHeaders());
  // Before any route's own middleware, so unauthenticated and wrong-key traffic is limited too.
  app.use('/v1/*', rateLimit(createRateLimiter({ perMinute: deps.auth.rateLimitPerMinute ?? 0 }), deps.auth));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer' });
  for (const register of routes) register(app, deps);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'faresight',
      version: '0.1.0',
      description: 'Fare forecasting from a stream of fare events: buy now or wait?',
    },
  });

  const methodsOf = methodsByPath(app);
  app.notFound((c) => {
    const allow = methodsOf(c.req.path);
    if (allow.length === 0) return renderError(c, new AppError('not_found', `no route for ${c.req.method} ${c.req.path}`));
    return renderError(c, new AppError('method_not_allowed', `${c.req.path} does not answer ${c.req.method}; it answers ${allow.join(', ')}`, { allow }));
  });
  app.onError((error, c) => {
    const known = toAppError(error, deps);
    if (known) {
      if (known.code === 'unavailable') deps.logger.error({ err: String(error) }, 'storage unavailable');
      return renderError(c, known);
    }
    deps.logger.error({ err: error, path: c.req.path }, 'unhandled error');
    return renderError(c, new AppError('internal', 'internal error; it has been logged'));
  });
  return app;
}
