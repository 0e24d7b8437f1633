import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Child processes of the benchmark: every server it measures runs as its own
 * process, started with the same `node --import tsx` command, and is killed
 * when the benchmark ends, fails or is interrupted.
 */

const live = new Set<ChildProcess>();

function killAll(signal: NodeJS.Signals): void {
  for (const child of live) {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

let handlersInstalled = false;

/** Kills every child on exit, on SIGINT/SIGTERM and on an uncaught error. Call once at start. */
export function installCleanup(onSignal?: () => void): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => killAll('SIGKILL'));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: stopping the benchmark's processes\n`);
      onSignal?.();
      killAll('SIGKILL');
      process.exit(130);
    });
  }
}

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface ChildOptions {
  name: string;
  /** Arguments after `node`, e.g. `['--import', 'tsx', 'src/index.ts']`. */
  args: string[];
  env?: Record<string, string>;
  /** stdout and stderr go here. */
  logFile: string;
}

/** A running child. */
export interface Child {
  name: string;
  pid: number;
  /** performance.now() right before spawn. */
  spawnedAt: number;
  exited: Promise<number | null>;
  /** Sends SIGTERM, waits up to `graceMs`, then SIGKILL. Resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  isRunning(): boolean;
}

/** Spawns `node <args>` in the repository root. */
export function spawnNode(options: ChildOptions): Child {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, options.args, {
    cwd: process.cwd(),
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${options.name}`);
  live.add(child);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let running = true;
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      running = false;
      live.delete(child);
      log.end(`\n[bench] ${options.name} exited: code ${code} signal ${signal}\n`);
      resolve(code);
    });
  });
  return {
    name: options.name,
    pid: child.pid,
    spawnedAt,
    exited,
    isRunning: () => running,
    async stop(graceMs = 10_000) {
      if (!running) return exited;
      // Processes it started (a training child) would outlive a killed parent: note them first.
      const descendants = child.pid === undefined ? [] : descendantPids(child.pid);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      for (const pid of descendants) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Ended with its parent.
        }
      }
      return code;
    },
  };
}

/** Resident memory of a process in MB, from /proc/<pid>/status VmRSS; null where /proc is missing. */
export function rssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The pids of a process's children, from /proc/<pid>/task/<tid>/children. */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/** Every descendant of a process (children, their children, …). */
export function descendantPids(pid: number): number[] {
  return childPids(pid).flatMap((child) => [child, ...descendantPids(child)]);
}

/** Sends a signal to every descendant of a process; returns how many were signalled. */
export function signalDescendants(pid: number, signal: NodeJS.Signals): number {
  let signalled = 0;
  for (const descendant of descendantPids(pid)) {
    try {
      process.kill(descendant, signal);
      signalled++;
    } catch {
      // Already gone.
    }
  }
  return signalled;
}

/** Resident memory of a process and all its descendants (e.g. a training child), in MB. */
export function treeRssMb(pid: number): number | null {
  const own = rssMb(pid);
  if (own === null) return null;
  return childPids(pid).reduce((sum, child) => sum + (treeRssMb(child) ?? 0), own);
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on Linux). */
const CLOCK_TICKS = 100;

/**
 * CPU time (user + system) a process has used so far, in seconds, from /proc/<pid>/stat;
 * null where /proc is missing. CPU time per request does not shrink or grow with the
 * machine's other load the way throughput does, so it is reported next to it.
 */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `url` until `accept(status)` holds, the child exits, or the timeout passes.
 * Resolves with performance.now() of the accepted response.
 */
export async function waitForHttp(
  url: string,
  child: Child,
  options: { timeoutMs: number; intervalMs?: number; accept?: (status: number) => boolean },
): Promise<number> {
  const accept = options.accept ?? ((s) => s >= 200 && s < 500);
  const deadline = performance.now() + options.timeoutMs;
  while (performance.now() < deadline) {
    if (!child.isRunning()) throw new Error(`${child.name} exited before it answered ${url}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (accept(res.status)) return performance.now();
    } catch {
      // Not listening yet.
    }
    await sleep(options.intervalMs ?? 20);
  }
  throw new Error(`${child.name} did not answer ${url} within ${options.timeoutMs} ms`);
}
