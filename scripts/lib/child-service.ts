import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, so the child runs the same source tree as the caller. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Asks the OS for a port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** A scratch directory under the OS temp dir. */
export function scratchDir(prefix = 'faresight-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface ChildServiceOptions {
  /** The database file; reused across restarts. */
  dbPath: string;
  /** Defaults to a free port, kept across restarts so clients keep one URL. */
  port?: number;
  /** Extra environment (API keys, log level, ...). */
  env?: Record<string, string>;
  /** Where the child's stderr (its JSON log) is appended. Defaults to a file next to the database. */
  logPath?: string;
  /** How long to wait for /readyz after a start. */
  readyTimeoutMs?: number;
}

/** The real service, run as a child process: started, killed and restarted on one database. */
export interface ChildService {
  readonly url: string;
  readonly port: number;
  readonly logPath: string;
  /** The process id of the running child, or undefined when it is not running. */
  pid(): number | undefined;
  /** Starts the child and resolves once GET /readyz answers 200. */
  start(): Promise<void>;
  /** Sends a signal and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Graceful stop (SIGTERM), falling back to SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Starts counted so far. */
  readonly starts: number;
  /** Everything the child wrote on stderr so far. */
  log(): string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `src/index.ts` with `node --import tsx` as a child process, configured only through
 * its environment, like an operator would run it.
 */
export async function childService(options: ChildServiceOptions): Promise<ChildService> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const logPath = options.logPath ?? `${options.dbPath}.log`;
  let child: ChildProcess | undefined;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  let logStream: WriteStream | undefined;
  let starts = 0;

  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    FARESIGHT_HOST: '127.0.0.1',
    FARESIGHT_PORT: String(port),
    FARESIGHT_DB_PATH: options.dbPath,
    FARESIGHT_LOG_LEVEL: 'warn',
    FARESIGHT_RETRAIN_AFTER_EVENTS: '0',
    FARESIGHT_RETRAIN_CRON: '',
    ...options.env,
  };

  async function waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the service exited during start (code ${child?.exitCode}, signal ${child?.signalCode}):\n${tail()}`);
      }
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return;
        last = `readyz ${res.status}: ${await res.text()}`;
      } catch (error) {
        last = String((error as Error).cause ?? error);
      }
      await sleep(50);
    }
    throw new Error(`the service was not ready within ${timeoutMs} ms (${last}):\n${tail()}`);
  }

  function tail(): string {
    try {
      return readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  }

  const handle: ChildService = {
    url,
    port,
    logPath,
    get starts() {
      return starts;
    },
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    async start() {
      if (handle.pid() !== undefined) throw new Error('the service is already running');
      logStream ??= createWriteStream(logPath, { flags: 'a' });
      child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      starts++;
      const stream = logStream;
      child.stdout!.on('data', (chunk: Buffer) => stream.write(chunk));
      child.stderr!.on('data', (chunk: Buffer) => stream.write(chunk));
      const current = child;
      exited = new Promise((resolveExit) => current.once('exit', (code, signal) => resolveExit({ code, signal })));
      await waitReady(options.readyTimeoutMs ?? 60_000);
    },
    async kill(signal = 'SIGKILL') {
      if (!child || !exited) return { code: null, signal: null };
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async stop(graceMs = 10_000) {
      if (!child || !exited) return;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child?.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      await new Promise<void>((r) => (logStream ? logStream.end(r) : r()));
      logStream = undefined;
    },
    log: () => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    },
  };
  return handle;
}
