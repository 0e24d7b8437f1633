import { serve, type ServerType } from '@hono/node-server';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/http/events.js';
import { closeServices, fareEvent, fareSeries, makeService, ndjson } from '../helpers/index.js';

const servers: ServerType[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  await closeServices();
});

/** The service over a real HTTP server, as clients reach it: the body is read from the Node request. */
async function listening() {
  const service = makeService();
  const server = serve({ fetch: service.app.fetch, hostname: '127.0.0.1', port: 0 });
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return { service, port: (server.address() as AddressInfo).port };
}

/** POSTs `chunks` one write at a time; without a Content-Length the body goes chunked. */
function postChunks(port: number, chunks: Buffer[], headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // A connection of its own: one left with an unread body must not carry the next request.
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/events', headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
    });
    // The server may answer 413 and close before the whole body is written.
    req.on('error', (error) => (error as NodeJS.ErrnoException).code === 'EPIPE' || (error as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(error));
    let i = 0;
    const writeNext = () => {
      if (i === chunks.length) return void req.end();
      if (req.write(chunks[i++])) setImmediate(writeNext);
      else req.once('drain', writeNext);
    };
    writeNext();
  });
}

describe('POST /v1/events bodies over HTTP', () => {
  it('reads a body sent in many chunks, with or without Content-Length, and with a UTF-8 BOM', async () => {
    const { port } = await listening();
    const body = Buffer.from(JSON.stringify(fareSeries(50)));
    const chunks = Array.from({ length: 10 }, (_, i) => body.subarray((i * body.length) / 10, ((i + 1) * body.length) / 10));
    const chunked = await postChunks(port, chunks, { 'content-type': 'application/json' });
    expect(chunked.status, chunked.body).toBe(202);
    expect(JSON.parse(chunked.body)).toEqual({ accepted: 50, duplicates: 0 });

    const again = await postChunks(port, chunks, { 'content-type': 'application/json', 'content-length': String(body.length) });
    expect(JSON.parse(again.body)).toEqual({ accepted: 0, duplicates: 50 });

    // A multi-byte character split across chunks, after a BOM, as Request.text() would decode it.
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(ndjson([fareEvent({ id: 'café-1' })]))]);
    const split = withBom.indexOf(Buffer.from('é')) + 1;
    const ndjsonRes = await postChunks(port, [withBom.subarray(0, split), withBom.subarray(split)], { 'content-type': 'application/x-ndjson' });
    expect(ndjsonRes.status, ndjsonRes.body).toBe(202);
  });

  it('answers 413 for a body over the limit, announced by Content-Length or not', async () => {
    const { service, port } = await listening();
    const announced = await postChunks(port, [Buffer.from('[]')], { 'content-type': 'application/json', 'content-length': String(MAX_BODY_BYTES + 1) });
    expect(announced.status, announced.body).toBe(413);
    const piece = Buffer.alloc(1024 * 1024, 0x20);
    const streamed = await postChunks(port, [Buffer.from('['), ...Array.from({ length: 11 }, () => piece), Buffer.from(']')], { 'content-type': 'application/json' });
    expect(streamed.status, streamed.body).toBe(413);
    expect(JSON.parse(streamed.body).error.code).toBe('payload_too_large');
    expect((service.database.sqlite.prepare('SELECT count(*) AS n FROM event_log').get() as { n: number }).n).toBe(0);
  });
});

describe('reading a Node request body', () => {
  it('joins its chunks, refuses one over the limit while draining the rest, and fails when the request is aborted', async () => {
    const { PassThrough } = await import('node:stream');
    const { readNodeBody } = await import('../../src/http/events.js');
    type Incoming = Parameters<typeof readNodeBody>[0];

    const chunked = new PassThrough();
    const joined = readNodeBody(chunked as unknown as Incoming);
    chunked.write('{"a":');
    chunked.end('1}');
    expect(Buffer.from(await joined).toString()).toBe('{"a":1}');

    const huge = new PassThrough();
    const refused = readNodeBody(huge as unknown as Incoming);
    const piece = Buffer.alloc(1024 * 1024, 0x20);
    for (let i = 0; i < 11; i++) huge.write(piece);
    await expect(refused).rejects.toMatchObject({ code: 'payload_too_large' });
    // What the client goes on sending is read and dropped, not buffered.
    huge.end(piece);
    await new Promise((resolve) => huge.once('end', resolve));
    expect(huge.readableLength).toBe(0);

    const aborted = new PassThrough();
    const cut = readNodeBody(aborted as unknown as Incoming);
    aborted.write('{"a":');
    aborted.destroy();
    await expect(cut).rejects.toThrow('aborted');
    await expect(readNodeBody(aborted as unknown as Incoming)).rejects.toThrow('aborted');

    const ended = new PassThrough();
    ended.end();
    ended.resume();
    await new Promise((resolve) => ended.once('end', resolve));
    expect((await readNodeBody(ended as unknown as Incoming)).byteLength).toBe(0);
  });
});
