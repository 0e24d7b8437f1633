import autocannon from 'autocannon';
import { Agent, request } from 'node:http';
import { cpuSeconds } from './processes.js';
import { percentile, type LoadFigures } from './report.js';

/**
 * Load drivers. Closed-loop load (N connections, each sends its next request when
 * the last one answered) goes through autocannon; latencies are taken exactly from
 * its per-response times rather than its millisecond histogram.
 */

export interface ClosedLoadOptions {
  url: string;
  connections: number;
  durationSec: number;
  method?: 'GET' | 'POST';
  /** A fresh path for each request (query strings included). */
  nextPath?: () => string;
  /** A fresh body for each request. */
  nextBody?: () => string;
  /** Requests per second over all connections; closed loop at full speed when absent. */
  overallRate?: number;
  warmupSec?: number;
  /** The server's pid, to report its CPU time per request. */
  serverPid?: number;
  /** Stops the load early when it resolves. */
  until?: Promise<unknown>;
}

async function cannon(options: ClosedLoadOptions, durationSec: number): Promise<LoadFigures> {
  const latencies: number[] = [];
  let non2xx = 0;
  const url = new URL(options.url);
  const cpuBefore = options.serverPid ? cpuSeconds(options.serverPid) : null;
  const instance = autocannon({
    url: url.origin,
    connections: options.connections,
    duration: durationSec,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    timeout: 30,
    requests: [
      {
        method: options.method ?? 'GET',
        path: url.pathname + url.search,
        headers: options.method === 'POST' ? { 'content-type': 'application/json' } : {},
        setupRequest: (req) => {
          if (options.nextPath) req.path = options.nextPath();
          if (options.nextBody) req.body = options.nextBody();
          return req;
        },
      },
    ],
  });
  let done = false;
  options.until?.then(() => {
    if (!done) (instance as unknown as { stop(): void }).stop();
  });
  // autocannon emits (client, statusCode, bytes, responseTimeMs); its typings omit the client.
  (instance as unknown as NodeJS.EventEmitter).on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
    else non2xx++;
  });
  const result = await instance;
  done = true;
  const cpuAfter = options.serverPid ? cpuSeconds(options.serverPid) : null;
  const seconds = (result.finish.getTime() - result.start.getTime()) / 1000 || durationSec;
  return {
    requestsPerSec: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    requests: latencies.length,
    non2xx,
    errors: result.errors + result.timeouts,
    durationSec: seconds,
    cpuMsPerRequest: cpuBefore !== null && cpuAfter !== null && latencies.length > 0 ? ((cpuAfter - cpuBefore) * 1000) / latencies.length : null,
    latencies,
  };
}

/** Closed-loop load after an optional warm-up whose figures are dropped. */
export async function closedLoad(options: ClosedLoadOptions): Promise<LoadFigures> {
  if (options.warmupSec && options.warmupSec > 0) await cannon({ ...options, until: undefined }, options.warmupSec);
  return cannon(options, options.durationSec);
}

/** One HTTP exchange on a keep-alive agent, with the time the full response arrived. */
export function send(
  agent: Agent,
  url: URL,
  method: 'GET' | 'POST',
  body?: string,
): Promise<{ status: number; text: string; doneAt: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), doneAt: performance.now() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A keep-alive agent for the harness's own requests. */
export function keepAliveAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}
