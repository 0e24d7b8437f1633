import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getPriority, setPriority } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FareEvent } from '../events/fare-event.js';
import type { RetrainJob, RetrainOutcome, RetrainProgress } from './retrain.js';

/**
 * Runs a retrain in a child process, so training never holds the service's event
 * loop: ingestion and forecasts go on while it runs, and the child runs at a lower
 * priority than the service (nice 19, and SCHED_IDLE where chrt is there). The child is
 * scripts/train-worker.ts, run by tsx, or from the built service (dist/index.js) the built
 * worker, dist/train-worker.js, run by plain node. It reads the fare events from the database file itself, or gets them in the
 * request (an in-memory database, in tests).
 */

/** What the parent sends the worker: the job, and where the fare events are. */
export interface RetrainRequest {
  job: RetrainJob;
  /** A database file to read the fare events from (read-only). */
  dbPath?: string;
  /** The fare events themselves, when there is no file to read. */
  events?: FareEvent[];
}

/** Messages from the worker. */
export type WorkerMessage =
  | { type: 'progress'; progress: RetrainProgress }
  | { type: 'done'; outcome: RetrainOutcome }
  | { type: 'error'; message: string };

/**
 * Defined only in the bundles that the build (scripts/build.mjs) writes: the bundled
 * worker beside them, relative to the repository root.
 */
declare const FARESIGHT_TRAIN_WORKER: string | undefined;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The worker's entry file: the bundled one in the built service, else the source. */
export const TRAIN_WORKER_PATH =
  typeof FARESIGHT_TRAIN_WORKER === 'string' ? resolve(ROOT, FARESIGHT_TRAIN_WORKER) : join(ROOT, 'scripts', 'train-worker.ts');

/** How much lower than the service's the training process's scheduling priority is, in nice steps. */
export const TRAINING_NICENESS = 19;
/** The lowest priority there is (the highest nice value). */
const LOWEST_PRIORITY = 19;

/**
 * util-linux's chrt, where there is one (undefined elsewhere): the training process starts under
 * SCHED_IDLE, so the kernel hands its core to the service whenever the service wakes. A nice value
 * alone lowers the process's share, but the kernel's EEVDF scheduler may let it finish its time
 * slice (a few ms) before a waking reader runs: that showed as reads at the p99 getting slower
 * during a retrain.
 */
export const CHRT_PATH = ['/usr/bin/chrt', '/bin/chrt'].find((path) => process.platform === 'linux' && existsSync(path));

/** How fork starts the worker: node itself, or node under `chrt --idle 0` where there is chrt. */
function workerLaunch(workerPath: string): { execPath?: string; execArgv: string[] } {
  const nodeArgs = workerExecArgv(workerPath);
  return CHRT_PATH ? { execPath: CHRT_PATH, execArgv: ['--idle', '0', process.execPath, ...nodeArgs] } : { execArgv: nodeArgs };
}

/** Node's arguments for a worker file: TypeScript runs through the tsx loader, JavaScript as it is. */
export function workerExecArgv(workerPath: string): string[] {
  return /\.[cm]?ts$/.test(workerPath) ? ['--import', tsxLoader()] : [];
}

function tsxLoader(): string {
  const require = createRequire(import.meta.url);
  return pathToFileURL(join(dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
}

export interface RunOptions {
  onProgress?: (progress: RetrainProgress) => void;
  /** Called once the child process is started: for logs, and for tests that need to know. */
  onStart?: (pid: number | undefined) => void;
  workerPath?: string;
  /** Aborting kills the training process; the outcome is `failed` with {@link INTERRUPTED}. */
  signal?: AbortSignal;
}

/** The error of a retrain whose process was stopped on purpose (the service shut down). */
export const INTERRUPTED = 'interrupted: the training process was stopped';

/**
 * Starts the worker and resolves with the retrain's outcome. Never rejects: a worker
 * that crashes or exits early yields a `failed` outcome, and the serving model is unchanged.
 */
export function runRetrainInChild(request: RetrainRequest, options: RunOptions = {}): Promise<RetrainOutcome> {
  const startedAt = Date.now();
  const failed = (error: string): RetrainOutcome => ({
    version: request.job.version ?? `failed-${startedAt}`,
    createdAt: startedAt,
    status: 'failed',
    reason: request.job.reason,
    decision: 'failed: the serving model is unchanged',
    window: { from: null, to: null, holdoutFrom: null, events: request.events?.length ?? 0 },
    metrics: {},
    error,
  });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: RetrainOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    let child: ReturnType<typeof fork>;
    try {
      const workerPath = options.workerPath ?? TRAIN_WORKER_PATH;
      child = fork(workerPath, [], {
        ...workerLaunch(workerPath),
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
    } catch (error) {
      settle(failed(`the training process could not start: ${String(error)}`));
      return;
    }
    if (child.pid !== undefined) {
      try {
        // Serving keeps the CPU during a retrain; training gets what serving leaves (also where
        // there is no chrt, and within the idle class).
        setPriority(child.pid, Math.min(LOWEST_PRIORITY, getPriority() + TRAINING_NICENESS));
      } catch {
        // Not permitted here, or the child is gone already: train at the same priority.
      }
    }
    options.onStart?.(child.pid);
    const abort = () => {
      settle(failed(INTERRUPTED));
      child.kill('SIGTERM');
    };
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    child.on('exit', () => options.signal?.removeEventListener('abort', abort));
    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') options.onProgress?.(message.progress);
      else if (message.type === 'done') settle(message.outcome);
      else if (message.type === 'error') settle(failed(message.message));
    });
    child.on('error', (error) => settle(failed(`the training process failed: ${error.message}`)));
    child.on('exit', (code, signal) => {
      settle(failed(`the training process exited (${signal ?? `code ${code}`}) before reporting`));
    });
    child.send(request);
  });
}
