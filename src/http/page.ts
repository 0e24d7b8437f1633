import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'hono';
import type { App, AppDeps } from './context.js';

const require = createRequire(import.meta.url);
const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public');
const UPLOT_DIST = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));

/** A file the service serves as it is, from the repository or node_modules. */
export interface StaticAsset {
  file: string;
  type: string;
  /** Vendor files never change for a given install; our own may change with the code. */
  cacheControl: string;
}

const OWN = 'no-cache';
const VENDOR = 'public, max-age=86400';

/** The price page's files, by URL path. Nothing outside this list is served. */
export const PAGE_ASSETS: Readonly<Record<string, StaticAsset>> = {
  '/': { file: join(PUBLIC_DIR, 'index.html'), type: 'text/html; charset=UTF-8', cacheControl: OWN },
  '/assets/page.js': { file: join(PUBLIC_DIR, 'page.js'), type: 'text/javascript; charset=UTF-8', cacheControl: OWN },
  '/assets/page.css': { file: join(PUBLIC_DIR, 'page.css'), type: 'text/css; charset=UTF-8', cacheControl: OWN },
  '/assets/uplot/uPlot.iife.min.js': {
    file: join(UPLOT_DIST, 'uPlot.iife.min.js'),
    type: 'text/javascript; charset=UTF-8',
    cacheControl: VENDOR,
  },
  '/assets/uplot/uPlot.min.css': { file: join(UPLOT_DIST, 'uPlot.min.css'), type: 'text/css; charset=UTF-8', cacheControl: VENDOR },
};

/**
 * Serves one file, read once and then kept in memory: a handful of small files,
 * so no disk read per request and no path ever comes from the URL.
 */
export function serveAsset(asset: StaticAsset): (c: Context) => Promise<Response> {
  let content: Promise<Buffer> | undefined;
  return async (c) => {
    content ??= readFile(asset.file).catch((error: unknown) => {
      content = undefined;
      throw error;
    });
    const body = await content;
    return c.body(new Uint8Array(body), 200, { 'content-type': asset.type, 'cache-control': asset.cacheControl });
  };
}

/** The price page at `/`: pick a route and a departure, see history, outlook and the recommendation. */
export function registerPage(app: App, _deps: AppDeps): void {
  for (const [path, asset] of Object.entries(PAGE_ASSETS)) app.get(path, serveAsset(asset));
}
