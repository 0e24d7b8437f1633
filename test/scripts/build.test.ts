import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { getPriority, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildService, ROOT } from '../../scripts/build.mjs';
import { serviceNodeArgs } from '../../scripts/bench/service.js';
import { CHRT_PATH, runRetrainInChild, TRAIN_WORKER_PATH, TRAINING_NICENESS, workerExecArgv } from '../../src/model/retrain-runner.js';
import { sampleEvents } from '../helpers/sample.js';

/** `npm start` runs the bundles of scripts/build.mjs with plain node: they must work from outside src/. */

let dir: string;
let outDir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'faresight-build-'));
  // Inside the checkout, like dist/, so that the bundles find node_modules; not dist/ itself,
  // which a running service may be using.
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  outDir = mkdtempSync(join(ROOT, 'dist', 'test-'));
  await buildService({ outDir, logLevel: 'error' });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(outDir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('npm start', () => {
  it('is one command: it builds, then runs the bundle with plain node, as the benchmark spawns it', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
    };
    expect(pkg.scripts.start).toMatch(/^node (--[\w-]+=\w+ )*dist\/index\.js$/);
    expect(pkg.scripts.prestart).toMatch(/^node scripts\/build\.mjs\b/);
    // A plain `npm install` (no dev dependencies) must be enough to build.
    expect(pkg.dependencies.esbuild).toBeDefined();
    expect(serviceNodeArgs(pkg.scripts.start).at(-1)).toBe('dist/index.js');
  });
});

describe('the built service', () => {
  let child: ChildProcess | undefined;
  let log = '';

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('starts on a fresh database (migrations from src/db/migrations), serves the page and a forecast with the shipped model', async () => {
    const modelsDir = join(dir, 'models');
    cpSync(join(ROOT, 'models'), modelsDir, { recursive: true });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [join(outDir, 'index.js')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        FARESIGHT_HOST: '127.0.0.1',
        FARESIGHT_PORT: String(port),
        FARESIGHT_DB_PATH: join(dir, 'fresh', 'faresight.db'),
        FARESIGHT_MODELS_DIR: modelsDir,
        FARESIGHT_API_KEYS: '',
        FARESIGHT_RETRAIN_AFTER_EVENTS: '0',
        FARESIGHT_RETRAIN_CRON: '',
        FARESIGHT_LOG_LEVEL: 'info',
      },
    });
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`the service exited (${code}):\n${log}`))));

    const ready = until('/readyz', async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined));
    await Promise.race([ready, exited]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    // public/ is found from the bundle.
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');

    const events = sampleEvents({ routes: ['CRL-OTP'] }).slice(0, 30);
    const posted = await fetch(`${url}/v1/events?wait=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(posted.status).toBe(202);
    const last = events[events.length - 1];
    const forecast = await fetch(`${url}/v1/forecast?origin=${last.origin}&destination=${last.destination}&departureDate=${last.departureDate}`);
    expect(forecast.status).toBe(200);
    const body = (await forecast.json()) as { recommendation: string; model: { version: string } };
    expect(['buy', 'wait']).toContain(body.recommendation);
    expect(body.model.version).toBe(readFileSync(join(modelsDir, 'current'), 'utf8').trim());
    expect(log).toMatch(/"tfjs backend selected"/);
  });
});

describe('the retrain worker', () => {
  const job = () => ({ modelsDir: join(dir, 'retrain-models'), reason: 'test', minEvents: 1000, version: 'm-test' });

  it('is the source run by tsx from src/, and the bundle run by plain node from the built service', () => {
    expect(TRAIN_WORKER_PATH).toBe(join(ROOT, 'scripts', 'train-worker.ts'));
    expect(workerExecArgv(TRAIN_WORKER_PATH)).toEqual(['--import', expect.stringMatching(/tsx\/dist\/loader\.mjs$/)]);
    expect(workerExecArgv(join(outDir, 'train-worker.js'))).toEqual([]);
    // The bundled service names the bundled worker beside it (relative to the repository root).
    expect(readFileSync(join(outDir, 'index.js'), 'utf8')).toContain(JSON.stringify(relative(ROOT, join(outDir, 'train-worker.js'))));
    expect(existsSync(join(outDir, 'train-worker.js'))).toBe(true);
  });

  it('the built worker starts, loads tfjs and answers over IPC', async () => {
    const outcome = await runRetrainInChild({ job: job(), events: [] }, { workerPath: join(outDir, 'train-worker.js') });
    expect(outcome.status).toBe('failed');
    // The worker's own answer, after it chose a tfjs backend: not a failure to start.
    expect(outcome.error).toMatch(/only 0 fare events/);
  });

  it('trains at a lower priority than the service', async () => {
    let priority: number | undefined;
    const outcome = await runRetrainInChild(
      { job: job(), events: [] },
      {
        workerPath: join(outDir, 'train-worker.js'),
        onStart: (pid) => {
          priority = getPriority(pid!);
        },
      },
    );
    expect(outcome.error).toMatch(/only 0 fare events/);
    expect(priority).toBe(Math.min(19, getPriority() + TRAINING_NICENESS));
  });

  it.runIf(CHRT_PATH !== undefined)(
    'trains in the idle scheduling class where chrt is there',
    async () => {
      // /proc/PID/stat: field 2 is the command, field 41 the policy (5 is SCHED_IDLE).
      const seen: { comm: string; policy: number }[] = [];
      let watcher: ReturnType<typeof setInterval> | undefined;
      const outcome = await runRetrainInChild(
        { job: job(), events: [] },
        {
          workerPath: join(outDir, 'train-worker.js'),
          onStart: (pid) => {
            watcher = setInterval(() => {
              try {
                const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
                const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
                seen.push({ comm, policy: Number(fields[41 - 3]) });
              } catch {
                // Gone already.
              }
            }, 10);
          },
        },
      );
      clearInterval(watcher);
      expect(outcome.error).toMatch(/only 0 fare events/);
      // Once chrt has replaced itself with node, node runs as SCHED_IDLE.
      const asNode = seen.filter((s) => s.comm === 'node');
      expect(asNode.length).toBeGreaterThan(0);
      expect(asNode.every((s) => s.policy === 5)).toBe(true);
    },
  );
});
