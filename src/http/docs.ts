import { Scalar } from '@scalar/hono-api-reference';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { App, AppDeps } from './context.js';
import { serveAsset } from './page.js';

const require = createRequire(import.meta.url);

/** Where the interactive reference's script is served from: this service, never a CDN. */
export const SCALAR_SCRIPT_PATH = '/assets/scalar/standalone.js';

/** The standalone browser bundle of @scalar/api-reference (its package exports hide dist/browser). */
function scalarBundle(): string {
  return join(dirname(require.resolve('@scalar/api-reference')), 'browser', 'standalone.js');
}

/** An interactive API reference at /docs, built from /openapi.json, that works offline. */
export function registerDocs(app: App, _deps: AppDeps): void {
  app.get(SCALAR_SCRIPT_PATH, serveAsset({ file: scalarBundle(), type: 'text/javascript; charset=UTF-8', cacheControl: 'public, max-age=86400' }));
  app.get(
    '/docs',
    Scalar({
      url: '/openapi.json',
      cdn: SCALAR_SCRIPT_PATH,
      pageTitle: 'faresight API',
      // No web fonts from a CDN: the page must render without internet access.
      withDefaultFonts: false,
      // Features that call Scalar's hosted services: off for a self-hosted, offline reference.
      showDeveloperTools: 'never',
      agent: { disabled: true },
    }),
  );
}
