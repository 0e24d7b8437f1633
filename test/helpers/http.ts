import type { Service } from '../../src/service.js';

type App = Service['app'];

export interface PostOptions {
  contentType?: string;
  /** Adds ?wait=... */
  wait?: string;
  headers?: Record<string, string>;
}

/** POSTs events: objects and arrays as JSON, strings as they are. */
export function post(app: App, body: unknown, options: PostOptions = {}, path = '/v1/events'): Promise<Response> {
  const query = options.wait !== undefined ? `?wait=${encodeURIComponent(options.wait)}` : '';
  return Promise.resolve(
    app.request(`${path}${query}`, {
      method: 'POST',
      headers: { 'content-type': options.contentType ?? 'application/json', ...options.headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

/** GETs a path and returns status and parsed body. */
export async function get<T = any>(app: App, path: string): Promise<{ status: number; body: T }> {
  const res = await app.request(path);
  return { status: res.status, body: (await res.json()) as T };
}

/** The error envelope of a failed response. */
export interface ErrorBody {
  error: { code: string; message: string; requestId?: string; issues?: { index: number; path: string; message: string }[] };
}

export async function body<T = any>(res: Response): Promise<T> {
  return (await res.json()) as T;
}
