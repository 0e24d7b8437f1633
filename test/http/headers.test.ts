import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/http/context.js';
import { completeJsonResponse, jsonResponse, responseHeaders, SECURITY_HEADERS } from '../../src/http/headers.js';

/** Every header of a response but the ones that differ per request or per body. */
function headerSet(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (!['x-request-id', 'content-type', 'content-length'].includes(name)) out[name] = value;
  });
  return out;
}

describe('the response headers middleware', () => {
  it('sets the same headers as hono’s requestId() and secureHeaders() with their defaults', async () => {
    const reference = new Hono();
    reference.use('*', requestId(), secureHeaders());
    reference.get('/x', (c) => c.json({ ok: true }));
    const ours = new Hono<AppEnv>();
    ours.use('*', responseHeaders());
    ours.get('/x', (c) => c.json({ ok: true }));
    ours.get('/complete', (c) => completeJsonResponse(c, Buffer.from('{"ok":true}')));

    const expected = headerSet(await reference.request('/x'));
    expect(Object.keys(expected).length).toBeGreaterThan(5);
    expect(SECURITY_HEADERS).toEqual(expected);
    expect(headerSet(await ours.request('/x'))).toEqual(expected);
    expect(headerSet(await ours.request('/complete'))).toEqual(expected);
  });

  it('answers jsonResponse() as c.json() answers through the middleware: status, body, every header', async () => {
    const app = new Hono<AppEnv>();
    app.use('*', responseHeaders());
    const value = { accepted: 2, duplicates: 0, note: 'ünïcode' };
    app.get('/json', (c) => c.json(value, 202));
    app.get('/complete', (c) => jsonResponse(c, value, 202));
    const headers = { 'x-request-id': 'same-id' };
    const [viaJson, viaComplete] = await Promise.all([app.request('/json', { headers }), app.request('/complete', { headers })]);
    expect(viaComplete.status).toBe(202);
    // c.json() leaves the length to the Node adapter; a complete response states it.
    const all = (res: Response) => {
      const out: Record<string, string> = {};
      res.headers.forEach((value, name) => {
        if (name !== 'content-length') out[name] = value;
      });
      return out;
    };
    const body = await viaComplete.text();
    expect(body).toBe(await viaJson.text());
    expect(all(viaComplete)).toEqual(all(viaJson));
    expect(Object.keys(all(viaComplete)).length).toBeGreaterThan(12);
    expect(viaComplete.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
  });

  it('keeps a client’s request id on the same terms as hono’s requestId()', async () => {
    const reference = new Hono();
    reference.use('*', requestId());
    reference.get('/x', (c) => c.text('x'));
    const ours = new Hono<AppEnv>();
    ours.use('*', responseHeaders());
    ours.get('/x', (c) => c.text(c.get('requestId')));
    for (const id of ['abc-DEF_123=', 'x'.repeat(255), 'x'.repeat(256), 'a b', 'a,b', '<b>', '']) {
      const theirs = (await reference.request('/x', { headers: { 'x-request-id': id } })).headers.get('x-request-id');
      const res = await ours.request('/x', { headers: { 'x-request-id': id } });
      const mine = res.headers.get('x-request-id');
      expect(await res.text()).toBe(mine);
      if (theirs === id) expect(mine, id).toBe(id);
      else expect(mine, id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });

  it('puts the headers on error answers and on answers a handler built by hand, and removes X-Powered-By', async () => {
    const app = new Hono<AppEnv>();
    app.use('*', responseHeaders());
    app.get('/raw', () => new Response('raw', { headers: { 'x-powered-by': 'something' } }));
    app.get('/boom', () => {
      throw new Error('boom');
    });
    app.onError((_error, c) => c.json({ error: 'internal' }, 500));
    for (const path of ['/raw', '/boom', '/missing']) {
      const res = await app.request(path);
      expect(headerSet(res), path).toEqual(SECURITY_HEADERS);
      expect(res.headers.get('x-request-id'), path).toEqual(expect.any(String));
    }
  });
});
