import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnNode, waitForHttp, type Child } from './processes.js';

/**
 * The real service as the benchmark runs it: what `npm start` runs, as a plain node
 * command, on 127.0.0.1 and a free port, with its own database and models folder.
 */

export interface ServiceChild extends Child {
  url: string;
  logFile: string;
  dbPath: string;
}

export interface StartServiceOptions {
  name: string;
  dbPath: string;
  modelsDir: string;
  logFile: string;
  /** Write a V8 CPU profile into this folder on exit. */
  cpuProfileDir?: string;
  extraEnv?: Record<string, string>;
}

/** Spawns the service and resolves once it answers /healthz. */
export async function startService(options: StartServiceOptions): Promise<ServiceChild> {
  const port = await freePort();
  const child = spawnService(options, port);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, child, { timeoutMs: 60_000, accept: (s) => s === 200 });
  return child;
}

/**
 * The node arguments `npm start` amounts to, read from package.json: `tsx <file>` becomes
 * `node --import tsx <file>`, `node <args>` stays as is. Spawning node directly keeps npm's
 * own process out, so the pid whose memory and CPU are read is the server's.
 */
export function serviceNodeArgs(startScript: string): string[] {
  const words = startScript.trim().split(/\s+/);
  if (words[0] === 'tsx') return ['--import', 'tsx', ...words.slice(1)];
  if (words[0] === 'node') return words.slice(1);
  throw new Error(`cannot run "npm start" (${startScript}) as a plain node command; expected "tsx …" or "node …"`);
}

/** The start script of the repository's package.json. */
export function startScript(repoRoot = process.cwd()): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts?: { start?: string } };
  if (!pkg.scripts?.start) throw new Error('package.json has no start script');
  return pkg.scripts.start;
}

/** Spawns the service without waiting: for timing the start. */
export function spawnService(options: StartServiceOptions, port: number): ServiceChild {
  const args = serviceNodeArgs(startScript());
  // Through NODE_OPTIONS, node processes the service starts (the training child) are profiled too.
  const profiling: Record<string, string> = options.cpuProfileDir
    ? {
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${join(dirname(fileURLToPath(import.meta.url)), 'cpu-profile.cjs')}`.trim(),
        FARESIGHT_BENCH_PROFILE_DIR: options.cpuProfileDir,
      }
    : {};
  const child = spawnNode({
    name: options.name,
    args,
    logFile: options.logFile,
    env: {
      FARESIGHT_HOST: '127.0.0.1',
      FARESIGHT_PORT: String(port),
      FARESIGHT_DB_PATH: options.dbPath,
      FARESIGHT_MODELS_DIR: options.modelsDir,
      FARESIGHT_LOG_LEVEL: 'info',
      FARESIGHT_API_KEYS: '',
      // The benchmark triggers retrains itself (target 5) so they do not land inside other phases.
      FARESIGHT_RETRAIN_AFTER_EVENTS: '0',
      FARESIGHT_RETRAIN_CRON: '',
      ...profiling,
      ...options.extraEnv,
    },
  });
  return { ...child, url: `http://127.0.0.1:${port}`, logFile: options.logFile, dbPath: options.dbPath };
}

/** GET or POST with a JSON body; the parsed body when it is JSON. */
export async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: res.status, body };
}

/** The functions the service lists, with their lag. */
export async function functionLags(baseUrl: string): Promise<{ id: string; lag: number; invocations: number; failures: number; deadLetters: number }[]> {
  const { status, body } = await call(`${baseUrl}/v1/functions`);
  if (status !== 200) throw new Error(`GET /v1/functions answered ${status}`);
  return body.functions;
}

/** The first value under `key` anywhere in a JSON value, depth first. */
export function findKey(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  if (!Array.isArray(value) && key in value) return (value as Record<string, unknown>)[key];
  for (const child of Object.values(value)) {
    const found = findKey(child, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A forecast's asOf as epoch ms, whether it is sent as ISO text or a number. */
export function asOfMs(forecast: unknown): number | undefined {
  const asOf = findKey(forecast, 'asOf');
  if (typeof asOf === 'number') return asOf;
  if (typeof asOf === 'string') {
    const ms = Date.parse(asOf);
    return Number.isFinite(ms) ? ms : undefined;
  }
  return undefined;
}

/** The path of one series' forecast. */
export function forecastPath(s: { origin: string; destination: string; departureDate: string }): string {
  return `/v1/forecast?origin=${s.origin}&destination=${s.destination}&departureDate=${s.departureDate}`;
}

/** Every object with a string `version` in a JSON value: the model records of GET /v1/models. */
export function modelRecords(value: unknown, out: { version: string; status?: string }[] = []): { version: string; status?: string }[] {
  if (value === null || typeof value !== 'object') return out;
  const record = value as Record<string, unknown>;
  if (!Array.isArray(value) && typeof record.version === 'string') {
    out.push({ version: record.version, status: typeof record.status === 'string' ? record.status : undefined });
  }
  for (const child of Object.values(record)) modelRecords(child, out);
  return out;
}

/** True for a model status that means the retrain has not finished yet. */
export function isUnfinishedStatus(status: string | undefined): boolean {
  return status !== undefined && /^(training|running|pending|queued|started|in[_-]?progress|requested)$/i.test(status);
}

/** The tfjs backend the service reported: in its log, or in /readyz or /v1/models. */
export async function reportedBackend(service: ServiceChild): Promise<string | null> {
  for (const path of ['/readyz', '/v1/models']) {
    try {
      const { status, body } = await call(service.url + path);
      const backend = status < 500 ? findKey(body, 'backend') : undefined;
      if (typeof backend === 'string') return backend;
    } catch {
      // Fall back to the log.
    }
  }
  try {
    for (const line of readFileSync(service.logFile, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { backend?: unknown; msg?: string };
        if (typeof entry.backend === 'string' && /backend/i.test(entry.msg ?? '')) return entry.backend;
      } catch {
        // Not a log line.
      }
    }
  } catch {
    // No log.
  }
  return null;
}

/** The serving model version named by `<modelsDir>/current`, if any. */
export function currentModel(modelsDir: string): string | null {
  try {
    return readFileSync(join(modelsDir, 'current'), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** What the service logged about its model: loaded versions and load failures. */
export function modelLogLines(logFile: string): { loaded: string[]; failures: string[] } {
  const loaded: string[] = [];
  const failures: string[] = [];
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return { loaded, failures };
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; version?: string; err?: string };
      if (entry.msg === 'serving model loaded' && entry.version) loaded.push(entry.version);
      if (/model load failed/.test(entry.msg ?? '') && entry.err) failures.push(entry.err);
    } catch {
      // Not a log line.
    }
  }
  return { loaded, failures: [...new Set(failures)] };
}
