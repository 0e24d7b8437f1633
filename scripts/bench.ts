/**
 * The benchmark: `npm run bench [-- --quick] [--json out.json] [--compare old.json] [--profile [--allocations]]`.
 *
 * Starts the real service and two baseline servers as child processes on 127.0.0.1,
 * drives them from this process, and reports each target as a ratio against the
 * baselines of the same run (absolute figures on a shared machine are noise).
 * Every child is killed when the run ends, fails or is interrupted.
 */
import Database from 'better-sqlite3';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildService } from './build.mjs';
import { batchBodies, inTimeOrder, readFares, SHARED_FARES, uniqueEventSource, type BenchFare, type FareData } from './bench/data.js';
import { eventToForecastLatency, type SeriesCursor } from './bench/latency.js';
import { closedLoad, type ClosedLoadOptions } from './bench/load.js';
import {
  formatAllocations,
  formatFrames,
  formatProfilesMarkdown,
  pidOfProfile,
  summarizeAllocations,
  summarizeProfiles,
  type Frame,
} from './bench/profile.js';
import { cpuSeconds, descendantPids, freePort, installCleanup, rssMb, signalDescendants, sleep, spawnNode, treeRssMb, waitForHttp } from './bench/processes.js';
import {
  formatComparison,
  formatMarkdownReport,
  formatTable,
  mergeLoads,
  ratio,
  replaceBetweenMarkers,
  reportJson,
  scaled,
  target,
  type Baselines,
  type BenchReport,
  type LoadFigures,
  type TargetResult,
} from './bench/report.js';
import {
  call,
  currentModel,
  forecastPath,
  functionLags,
  isUnfinishedStatus,
  modelLogLines,
  modelRecords,
  reportedBackend,
  serviceNodeArgs,
  spawnService,
  startScript,
  startService,
  type ServiceChild,
} from './bench/service.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string', default: '.bench/latest.json' },
    compare: { type: 'string' },
    profile: { type: 'boolean', default: false },
    allocations: { type: 'boolean', default: false },
    order: { type: 'string', default: 'file' },
    data: { type: 'string', default: SHARED_FARES },
    keep: { type: 'boolean', default: false },
    only: { type: 'string' },
    models: { type: 'string', default: 'models' },
    'write-doc': { type: 'boolean', default: false },
  },
  allowPositionals: false,
});

const QUICK = args.quick === true;
/** Durations and sizes: the quick run finishes in under a minute, the full one in under ten. */
const settings = {
  keepEverySeries: QUICK ? 48 : 1,
  loadSec: QUICK ? 2 : 15,
  warmupSec: QUICK ? 1 : 3,
  connections: 50,
  bulkBatch: 1000,
  bulkConcurrency: 2,
  bulkTimeoutMs: QUICK ? 60_000 : 420_000,
  fixedRateReads: { rate: 100, connections: 10 },
  // As long as a full retrain takes here: a p99 over a shorter window sees fewer of the rare
  // pauses (a full garbage collection) that a p99 over the retrain's window includes.
  idleReadSec: QUICK ? 1.5 : 25,
  retrainTimeoutMs: QUICK ? 60_000 : 240_000,
  latency: {
    eventsPerSec: 2000,
    eventsPerRequest: 10,
    durationSec: QUICK ? 2 : 20,
    sampleEvery: QUICK ? 3 : 10,
    pollIntervalMs: 2,
    probeTimeoutMs: 5000,
    maxInFlight: 64,
  },
  startTimeoutMs: QUICK ? 20_000 : 30_000,
};

const repoRoot = process.cwd();
const workDir = mkdtempSync(join(tmpdir(), 'faresight-bench-'));
const benchDir = resolve(repoRoot, '.bench');
const logDir = join(benchDir, 'logs');
const profileRoot = join(benchDir, 'profiles');
rmSync(logDir, { recursive: true, force: true });
mkdirSync(logDir, { recursive: true });

installCleanup(() => {
  if (!args.keep) rmSync(workDir, { recursive: true, force: true });
});

const notes: string[] = [];
/** The service's pid in each profiled phase, to tell its profile from its children's. */
const profiledServices = new Map<string, number>();
const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** The peak RSS of one pid (or, with `tree`, of it and its descendants), sampled every 250 ms until stop(). */
function sampleRss(pid: number, tree = false) {
  const samples: number[] = [];
  const timer = setInterval(() => {
    const mb = tree ? treeRssMb(pid) : rssMb(pid);
    if (mb !== null) samples.push(mb);
  }, 250);
  return {
    stop: () => {
      clearInterval(timer);
      return samples.length > 0 ? Math.max(...samples) : null;
    },
  };
}

/** A baseline server kept running, idle between loads, so it can be measured right before and after its target. */
interface BaselineServer {
  measure(): Promise<LoadFigures>;
  stop(): Promise<unknown>;
}

async function startBaseline(name: string, script: string, env: Record<string, string>, load: (url: string, pid: number) => ClosedLoadOptions): Promise<BaselineServer> {
  const port = await freePort();
  const child = spawnNode({ name, args: ['--import', 'tsx', script], env: { PORT: String(port), ...env }, logFile: join(logDir, `${name}.log`) });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/`, child, { timeoutMs: 30_000 });
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { measure: () => closedLoad(load(`http://127.0.0.1:${port}`, child.pid)), stop: () => child.stop() };
}

/** Baseline (c): the same rows into a plain table, prepared statement, one transaction, WAL. */
function sqliteInsertBaseline(fares: readonly BenchFare[]): NonNullable<Baselines['sqliteInsert']> {
  const path = join(workDir, 'baseline-c.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE observations (
    id INTEGER PRIMARY KEY, origin TEXT NOT NULL, destination TEXT NOT NULL, departure_date TEXT NOT NULL,
    observed_at TEXT NOT NULL, price REAL NOT NULL, currency TEXT NOT NULL)`);
  const insert = db.prepare(
    'INSERT INTO observations (origin, destination, departure_date, observed_at, price, currency) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const startedAt = performance.now();
  const cpuBefore = process.cpuUsage();
  db.transaction(() => {
    for (const f of fares) insert.run(f.origin, f.destination, f.departureDate, f.observedAt, f.price, f.currency);
  })();
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - startedAt) / 1000;
  db.close();
  return { rows: fares.length, seconds, rowsPerSec: fares.length / seconds, cpuUsPerRow: (cpu.user + cpu.system) / fares.length };
}

/** Waits until every function's lag is 0. Resolves with performance.now() at that poll, or undefined on timeout. */
async function untilDrained(url: string, timeoutMs: number, intervalMs = 100): Promise<number | undefined> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const lags = await functionLags(url);
    if (lags.every((f) => f.lag === 0)) return performance.now();
    await sleep(intervalMs);
  }
  return undefined;
}

/** Target 2: POSTs every batch (a few in flight) and waits until all functions caught up. */
async function bulkImport(service: ServiceChild, fares: readonly BenchFare[]) {
  const bodies = batchBodies(fares, settings.bulkBatch);
  let nextBody = 0;
  let accepted = 0;
  let duplicates = 0;
  const cpuBefore = cpuSeconds(service.pid);
  const startedAt = performance.now();
  const worker = async () => {
    while (nextBody < bodies.length) {
      const { body } = bodies[nextBody++];
      const res = await call(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (res.status !== 202) throw new Error(`bulk POST answered ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);
      accepted += res.body.accepted;
      duplicates += res.body.duplicates;
    }
  };
  await Promise.all(Array.from({ length: settings.bulkConcurrency }, worker));
  const postedAt = performance.now();
  const drainedAt = await untilDrained(service.url, settings.bulkTimeoutMs - (postedAt - startedAt));
  const cpuAfter = cpuSeconds(service.pid);
  const functions = await functionLags(service.url);
  return {
    cpuUsPerRow: drainedAt !== undefined && cpuBefore !== null && cpuAfter !== null ? ((cpuAfter - cpuBefore) * 1e6) / fares.length : null,
    rows: fares.length,
    accepted,
    duplicates,
    postSeconds: (postedAt - startedAt) / 1000,
    seconds: drainedAt === undefined ? null : (drainedAt - startedAt) / 1000,
    functions,
  };
}

/** Probes forecasts of some known series: how many answer 200, and what else came back. */
async function probeForecasts(url: string, series: FareData['series'], count = 20) {
  const statuses = new Map<number, number>();
  let first: unknown;
  for (let i = 0; i < count; i++) {
    const s = series[Math.floor((i * series.length) / count)];
    const res = await call(url + forecastPath(s));
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status === 200 && first === undefined) first = res.body;
    if (res.status !== 200 && first === undefined && i === count - 1) first = res.body;
  }
  return { ok: statuses.get(200) ?? 0, statuses: Object.fromEntries(statuses), sample: first };
}

/**
 * Target 5: triggers a full retrain (POST /v1/models/retrain, or `npm run retrain` against the
 * same database), reads forecasts at a fixed rate meanwhile, and times until GET /v1/models shows the new record.
 */
async function retrain(service: ServiceChild, modelsDir: string, readPaths: () => string) {
  const before = new Set(modelRecords((await call(`${service.url}/v1/models`)).body).map((r) => r.version));
  const modelsRoute = (await call(`${service.url}/v1/models`)).status;
  let stopReads: () => void = () => {};
  const readsStopped = new Promise<void>((resolve) => (stopReads = resolve));
  const reads = closedLoad({
    url: service.url + readPaths(),
    connections: settings.fixedRateReads.connections,
    overallRate: settings.fixedRateReads.rate,
    durationSec: Math.ceil(settings.retrainTimeoutMs / 1000) + 5,
    nextPath: readPaths,
    until: readsStopped,
  });
  const rss = sampleRss(service.pid);
  const treeRss = sampleRss(service.pid, true);
  await sleep(500);
  const startedAt = performance.now();
  let how: string;
  let script: ReturnType<typeof spawnNode> | undefined;
  const trigger = await call(`${service.url}/v1/models/retrain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (trigger.status >= 200 && trigger.status < 300) {
    how = 'POST /v1/models/retrain';
  } else if (existsSync(join(repoRoot, 'scripts/retrain.ts'))) {
    how = 'npm run retrain (scripts/retrain.ts) on the same database';
    script = spawnNode({
      name: 'retrain',
      args: ['--import', 'tsx', 'scripts/retrain.ts'],
      env: { FARESIGHT_DB_PATH: service.dbPath, FARESIGHT_MODELS_DIR: modelsDir, FARESIGHT_LOG_LEVEL: 'info' },
      logFile: join(logDir, 'retrain.log'),
    });
  } else {
    stopReads();
    await reads;
    rss.stop();
    treeRss.stop();
    return { reason: `no retrain trigger: POST /v1/models/retrain answered ${trigger.status} and scripts/retrain.ts does not exist` };
  }
  let seconds: number | null = null;
  let record: { version: string; status?: string } | undefined;
  const deadline = startedAt + settings.retrainTimeoutMs;
  while (performance.now() < deadline) {
    const models = await call(`${service.url}/v1/models`);
    record = modelRecords(models.body).find((r) => !before.has(r.version));
    if (record && !isUnfinishedStatus(record.status)) {
      seconds = (performance.now() - startedAt) / 1000;
      break;
    }
    if (script && !script.isRunning() && !record && modelsRoute !== 200) {
      // No GET /v1/models to watch: the script's exit is the end.
      seconds = (performance.now() - startedAt) / 1000;
      break;
    }
    await sleep(100);
  }
  let stoppedTraining = false;
  if (seconds === null) {
    // Unfinished: stop its training process so it does not run on into the next phases.
    stoppedTraining = signalDescendants(service.pid, 'SIGTERM') > 0;
    const settleBy = performance.now() + 15_000;
    while (performance.now() < settleBy && descendantPids(service.pid).length > 0) await sleep(200);
  }
  const exitCode = script ? await script.stop(stoppedTraining ? 1000 : 60_000) : undefined;
  stopReads();
  const during = await reads;
  return {
    how,
    seconds,
    record,
    exitCode,
    during,
    rssPeakMb: rss.stop(),
    treeRssPeakMb: treeRss.stop(),
    triggerStatus: trigger.status,
    newModel: currentModel(modelsDir),
    stoppedTraining,
  };
}

/** The targets this run measures: all, or those named by --only. */
const wanted = new Set(
  args.only ? args.only.split(',').map((n) => Number(n.trim())).filter((n) => n >= 1 && n <= 7) : [1, 2, 3, 4, 5, 6, 7],
);
const want = (...ids: number[]) => ids.some((id) => wanted.has(id));

/** Target 1: single-event ingest on a fresh database of its own. */
async function singleEventIngest(
  ingestService: ServiceChild,
): Promise<{ ingest: LoadFigures; cpuMsPerEvent: number | null; eventsPerInvocation: Record<string, number> }> {
  log('target 1: single-event ingest');
  let ingest: LoadFigures;
  let cpuMsPerEvent: number | null = null;
  const eventsPerInvocation: Record<string, number> = {};
  try {
    const events = uniqueEventSource();
    const load = { url: `${ingestService.url}/v1/events`, method: 'POST' as const, nextBody: events, connections: settings.connections, serverPid: ingestService.pid };
    await closedLoad({ ...load, durationSec: settings.warmupSec });
    await untilDrained(ingestService.url, 60_000);
    const invocationsBefore = await functionLags(ingestService.url);
    const cpuBefore = cpuSeconds(ingestService.pid);
    ingest = await closedLoad({ ...load, durationSec: settings.loadSec });
    // The functions these events trigger run in the same process: their CPU is part of the cost.
    const drained = await untilDrained(ingestService.url, 60_000);
    const cpuAfter = cpuSeconds(ingestService.pid);
    if (drained !== undefined && cpuBefore !== null && cpuAfter !== null) cpuMsPerEvent = ((cpuAfter - cpuBefore) * 1000) / ingest.requests;
    // Events per invocation: each invocation is one transaction, so this is how well commits were shared.
    for (const fn of await functionLags(ingestService.url)) {
      const invocations = fn.invocations - (invocationsBefore.find((f) => f.id === fn.id)?.invocations ?? 0);
      if (invocations > 0) eventsPerInvocation[fn.id] = ingest.requests / invocations;
    }
  } finally {
    await ingestService.stop(30_000);
  }
  return { ingest, cpuMsPerEvent, eventsPerInvocation };
}

function ingestTarget(
  { ingest, cpuMsPerEvent, eventsPerInvocation }: { ingest: LoadFigures; cpuMsPerEvent: number | null; eventsPerInvocation: Record<string, number> },
  baseline: LoadFigures | undefined,
): TargetResult {
  const ingestRatio = ratio(ingest.requestsPerSec, baseline?.requestsPerSec);
  return target(
    1,
    'Single-event ingest, 50 connections',
    [
      { label: 'req/s', actual: ingest.requestsPerSec, limit: scaled(0.8, baseline?.requestsPerSec), op: '>=', unit: 'req/s', basis: `0.8 × baseline (b); ratio ${ingestRatio?.toFixed(2)}` },
      { label: 'p99', actual: ingest.p99Ms, limit: 15, op: '<=', unit: 'ms' },
    ],
    {
      ratio: ingestRatio,
      p50Ms: ingest.p50Ms,
      non2xx: ingest.non2xx,
      errors: ingest.errors,
      cpuMsPerRequest: ingest.cpuMsPerRequest ?? null,
      cpuMsPerEventWithFunctions: cpuMsPerEvent,
      cpuRatio: ratio(baseline?.cpuMsPerRequest, cpuMsPerEvent),
      ...Object.fromEntries(Object.entries(eventsPerInvocation).map(([id, n]) => [`eventsPerInvocation.${id}`, n])),
    },
  );
}

/** Cursors for target 4: known series that depart well after the data ends, continued from then. */
function latencyCursors(data: FareData): SeriesCursor[] {
  const lastData = Math.max(...data.series.map((s) => s.lastObservedMs));
  const startMs = lastData + 3_600_000;
  const open = data.series.filter((s) => Date.parse(`${s.departureDate}T00:00:00Z`) > startMs + 2 * 86_400_000);
  const known = new Map(data.fares.map((f) => [`${f.origin}-${f.destination}-${f.departureDate}`, f]));
  return open.map((s) => {
    const fare = known.get(`${s.origin}-${s.destination}-${s.departureDate}`)!;
    return { ...s, currency: fare.currency, lastPrice: fare.price, nextMs: startMs };
  });
}

interface ServicePhases {
  targets: TargetResult[];
  backend: string | null;
  functionIds: string[];
}

/** Targets 2–7 share one service on one database: the bulk import first, then serving. */
async function servicePhases(
  data: FareData,
  bulkFares: readonly BenchFare[],
  modelsDir: string,
  baselines: Baselines,
  hello: BaselineServer | undefined,
  profileDir: (name: string) => string | undefined,
): Promise<ServicePhases> {
  const targets: TargetResult[] = [];
  log(`target 2: bulk import of ${bulkFares.length.toLocaleString('en')} rows`);
  let service = await startService({
    name: 'service',
    dbPath: join(workDir, 'service.db'),
    modelsDir,
    logFile: join(logDir, 'service.log'),
    cpuProfileDir: profileDir('2-import'),
  });
  profiledServices.set('2-import', service.pid);
  let restarted: ServiceChild | undefined;
  let backend: string | null = null;
  let functionIds: string[] = [];
  try {
    functionIds = (await functionLags(service.url)).map((f) => f.id);
    const bulk = await bulkImport(service, bulkFares);
    const bulkRowsPerSec = bulk.seconds === null ? null : bulk.rows / bulk.seconds;
    const bulkRatio = ratio(bulkRowsPerSec, baselines.sqliteInsert?.rowsPerSec);
    if (want(2)) {
      targets.push(
        target(
          2,
          `Bulk ingest end to end (${functionIds.join(' + ')}), batches of ${settings.bulkBatch}`,
          [{ label: 'rows/s', actual: bulkRowsPerSec, limit: scaled(0.25, baselines.sqliteInsert?.rowsPerSec), op: '>=', unit: 'rows/s', basis: `0.25 × baseline (c); ratio ${bulkRatio?.toFixed(3)}` }],
          {
            ratio: bulkRatio,
            rows: bulk.rows,
            accepted: bulk.accepted,
            duplicates: bulk.duplicates,
            postSeconds: bulk.postSeconds,
            seconds: bulk.seconds,
            cpuUsPerRow: bulk.cpuUsPerRow,
            cpuRatio: ratio(baselines.sqliteInsert?.cpuUsPerRow, bulk.cpuUsPerRow),
            failures: bulk.functions.reduce((s, f) => s + f.failures, 0),
            deadLetters: bulk.functions.reduce((s, f) => s + f.deadLetters, 0),
          },
          bulk.seconds === null ? `lag not 0 within ${settings.bulkTimeoutMs / 1000} s` : undefined,
        ),
      );
    }
    const rssAfterImport = rssMb(service.pid);
    backend = await reportedBackend(service);
    const models = modelLogLines(service.logFile);
    if (models.loaded.length > 0) notes.push(`the service loaded model ${models.loaded.join(', ')}`);
    for (const failure of models.failures) notes.push(`the service could not load a model: ${failure}`);
    // A CPU profile covers a whole process: with --profile each phase group gets a fresh one.
    const restartForProfile = async (phase: string) => {
      if (!args.profile) return;
      await service.stop(30_000);
      service = await startService({ name: `service-${phase}`, dbPath: service.dbPath, modelsDir, logFile: join(logDir, `service-${phase}.log`), cpuProfileDir: profileDir(phase) });
      profiledServices.set(phase, service.pid);
    };
    if (args.profile) notes.push('--profile: the service was restarted before the reads, the retrain and the latency phase, so target 6 measured fresh processes');

    let probe = await probeForecasts(service.url, data.series);
    const noForecastNow = () => (probe.ok === 0 ? `GET /v1/forecast answered ${JSON.stringify(probe.statuses)} for 20 known series` : undefined);
    let noForecast = noForecastNow();
    const randomPath = () => forecastPath(data.series[Math.floor(Math.random() * data.series.length)]);

    // Target 3 (and 6): forecast reads, with baseline (a) right before and after.
    let rssServing: number | null = null;
    const measureReads = async () => {
      await restartForProfile('3-reads');
      log('target 3: forecast reads');
      log('baseline (a) before the reads: hono hello GET');
      const before = hello ? await hello.measure() : undefined;
      const rss = sampleRss(service.pid);
      const reads = await closedLoad({
        url: service.url + randomPath(),
        nextPath: randomPath,
        serverPid: service.pid,
        connections: settings.connections,
        durationSec: settings.loadSec,
        warmupSec: settings.warmupSec,
      });
      rssServing = rss.stop();
      log('baseline (a) after the reads');
      const after = hello ? await hello.measure() : undefined;
      if (before && after) baselines.helloGet = mergeLoads([before, after]);
      const readRatio = ratio(reads.requestsPerSec, baselines.helloGet?.requestsPerSec);
      targets.push(
        target(
          3,
          'Forecast reads, 50 connections',
          [
            { label: 'req/s', actual: reads.requestsPerSec, limit: scaled(0.5, baselines.helloGet?.requestsPerSec), op: '>=', unit: 'req/s', basis: `0.5 × baseline (a); ratio ${readRatio?.toFixed(2)}` },
            { label: 'p99', actual: reads.p99Ms, limit: 5, op: '<=', unit: 'ms' },
          ],
          {
            ratio: readRatio,
            p50Ms: reads.p50Ms,
            non2xx: reads.non2xx,
            errors: reads.errors,
            probedOk: `${probe.ok}/20`,
            cpuMsPerRequest: reads.cpuMsPerRequest ?? null,
            cpuRatio: ratio(baselines.helloGet?.cpuMsPerRequest, reads.cpuMsPerRequest),
          },
        ),
      );
    };
    let readsDone = false;
    if (want(3, 6) && !noForecast) {
      await measureReads();
      readsDone = true;
    }

    // Target 5: retrain while forecast reads go on at a fixed rate; the idle figure first, at the same rate.
    await restartForProfile('5-retrain');
    let retrainPeak: number | null = null;
    if (want(5)) {
      log('target 5: retrain');
      if (noForecast) notes.push('target 5 ran without forecast reads: there is no forecast to read');
      const idle = noForecast
        ? undefined
        : await closedLoad({
            url: service.url + randomPath(),
            nextPath: randomPath,
            connections: settings.fixedRateReads.connections,
            overallRate: settings.fixedRateReads.rate,
            durationSec: settings.idleReadSec,
          });
      const retrained = await retrain(service, modelsDir, noForecast ? () => '/healthz' : randomPath);
      if ('reason' in retrained) {
        targets.push(target(5, 'Full retrain on the imported data', [], {}, `not measured: ${retrained.reason}`));
      } else {
        retrainPeak = retrained.rssPeakMb;
        const readLimit = idle?.p99Ms == null ? null : 2 * idle.p99Ms;
        targets.push(
          target(
            5,
            'Full retrain on the imported data',
            [
              retrained.seconds === null
                ? { label: 'seconds (unfinished at the timeout, so more than)', actual: settings.retrainTimeoutMs / 1000, limit: 60, op: '<=' as const, unit: 's' }
                : { label: 'seconds', actual: retrained.seconds, limit: 60, op: '<=' as const, unit: 's' },
              ...(idle
                ? [{ label: 'read p99 during', actual: retrained.during.p99Ms, limit: readLimit, op: '<=' as const, unit: 'ms', basis: `2 × idle p99 ${idle.p99Ms?.toFixed(2)} ms at ${settings.fixedRateReads.rate} req/s` }]
                : []),
            ],
            {
              trigger: retrained.how,
              version: retrained.record?.version ?? null,
              status: retrained.record?.status ?? null,
              idleP99Ms: idle?.p99Ms ?? null,
              readsDuring: retrained.during.requests,
              readsNon2xx: retrained.during.non2xx,
              rssPeakMb: retrained.rssPeakMb,
              withChildrenRssPeakMb: retrained.treeRssPeakMb,
              exitCode: retrained.exitCode ?? null,
              unfinished: retrained.seconds === null ? `no new record within ${settings.retrainTimeoutMs / 1000} s${retrained.stoppedTraining ? '; its training process was then stopped' : ''}` : null,
            },
            undefined,
          ),
        );
      }
    }

    if (noForecast) {
      // Without a shipped model, the retrain may have promoted one: the rest can then be measured with it.
      probe = await probeForecasts(service.url, data.series);
      noForecast = noForecastNow();
      if (!noForecast) notes.push('there was no forecast before the retrain; targets 3, 4 and 7 used the model it promoted');
    }
    if (want(3, 6) && !readsDone) {
      if (noForecast) {
        if (hello) baselines.helloGet = await hello.measure();
        targets.push(target(3, 'Forecast reads, 50 connections', [], {}, `not measured: ${noForecast}`));
      } else {
        await measureReads();
      }
    }

    // Target 4: event-to-forecast latency at a steady rate.
    let latencyPeak: number | null = null;
    await restartForProfile('4-latency');
    if (want(4)) {
      log('target 4: event-to-forecast latency');
      if (noForecast) {
        targets.push(target(4, 'Event-to-forecast latency at 2,000 events/s', [], {}, `not measured: ${noForecast}`));
      } else {
        const cursors = latencyCursors(data);
        const rss = sampleRss(service.pid);
        const latency = await eventToForecastLatency({ baseUrl: service.url, series: cursors, ...settings.latency });
        latencyPeak = rss.stop();
        targets.push(
          target(
            4,
            'Event-to-forecast latency at 2,000 events/s',
            [
              { label: 'p99', actual: latency.p99Ms, limit: 50, op: '<=', unit: 'ms' },
              { label: 'events/s', actual: latency.achievedEventsPerSec, limit: 0.95 * settings.latency.eventsPerSec, op: '>=', unit: 'ev/s', basis: 'the rate held' },
            ],
            {
              p50Ms: latency.p50Ms,
              maxMs: latency.maxMs,
              samples: latency.samples,
              timeouts: latency.timeouts,
              postP99Ms: latency.postP99Ms,
              rejected: latency.rejected,
              series: cursors.length,
              eventsPerRequest: settings.latency.eventsPerRequest,
            },
          ),
        );
      }
    }

    // Target 6: memory while serving after the import.
    if (want(6)) {
      const servingPeak = Math.max(rssServing ?? 0, latencyPeak ?? 0) || null;
      targets.push(
        target(
          6,
          'Resident memory after the full import, while serving',
          [{ label: 'RSS peak', actual: servingPeak ?? rssAfterImport, limit: 400, op: '<=', unit: 'MB' }],
          { afterImportMb: rssAfterImport, readsPeakMb: rssServing, latencyPeakMb: latencyPeak, retrainPeakMb: retrainPeak, rows: bulkFares.length },
        ),
      );
    }

    // Target 7: restart on the filled database; time from spawn to the first forecast served.
    if (want(7)) {
      log('target 7: start');
      await service.stop(30_000);
      const port = await freePort();
      restarted = spawnService(
        { name: 'service-restart', dbPath: service.dbPath, modelsDir, logFile: join(logDir, 'service-restart.log'), cpuProfileDir: profileDir('7-start') },
        port,
      );
      profiledServices.set('7-start', restarted.pid);
      const firstAt = await waitForHttp(`${restarted.url}${noForecast ? '/healthz' : forecastPath(data.series[0])}`, restarted, {
        timeoutMs: settings.startTimeoutMs,
        intervalMs: 5,
        accept: (s) => s === 200,
      }).catch(() => undefined);
      const startMs = firstAt === undefined ? null : firstAt - restarted.spawnedAt;
      // CPU time to the first forecast: what the start costs, whatever else the machine is doing.
      const startCpu = firstAt === undefined ? null : cpuSeconds(restarted.pid);
      backend ??= await reportedBackend(restarted);
      targets.push(
        target(
          7,
          'Start on a filled database to the first forecast (model load included)',
          [{ label: 'ms', actual: startMs, limit: 3000, op: '<=', unit: 'ms' }],
          { command: `node ${serviceNodeArgs(startScript()).join(' ')}`, cpuSeconds: startCpu },
          noForecast
            ? `not measured: no forecast to serve; to the first /healthz ${startMs?.toFixed(0)} ms`
            : startMs === null
              ? `no forecast within ${settings.startTimeoutMs / 1000} s`
              : undefined,
        ),
      );
    }
  } finally {
    await service.stop(30_000);
    await restarted?.stop(30_000);
  }
  return { targets, backend, functionIds };
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  log(`work dir ${workDir}; logs in ${logDir}`);
  // The service runs as `npm start` runs it, from dist/: build it first, so the run measures this code.
  log('building the service (npm run build)');
  await buildService();
  const baselines: Baselines = {};
  const targets: TargetResult[] = [];

  // The shipped model, copied so a retrain never touches the repository's models/.
  const modelsDir = join(workDir, 'models');
  const shippedDir = resolve(repoRoot, args.models!);
  const shippedModel = currentModel(shippedDir);
  if (shippedModel) cpSync(shippedDir, modelsDir, { recursive: true });
  else {
    mkdirSync(modelsDir, { recursive: true });
    notes.push(`no model (${args.models}/current is missing): the service ran without one`);
  }
  if (args.allocations && !args.profile) throw new Error('--allocations samples allocations next to the CPU profiles: use it with --profile');
  // Read by the profiling preload of every service process (scripts/bench/cpu-profile.cjs).
  if (args.allocations) process.env.FARESIGHT_BENCH_ALLOCATIONS = '1';
  const profileDir = (name: string) => (args.profile ? join(profileRoot, name) : undefined);
  if (args.profile) rmSync(profileRoot, { recursive: true, force: true });

  // Servers whose start is not timed boot while the data is read; they idle until their turn.
  const helloStarting = want(3)
    ? startBaseline('baseline-hello', 'scripts/bench/hello-server.ts', {}, (url, serverPid) => ({
        url: `${url}/hello`,
        connections: settings.connections,
        durationSec: settings.loadSec,
        warmupSec: settings.warmupSec,
        serverPid,
      }))
    : undefined;
  const minimalStarting = want(1)
    ? startBaseline('baseline-ingest', 'scripts/bench/ingest-server.ts', { DB_PATH: join(workDir, 'baseline-b.db') }, (url, serverPid) => ({
        url: `${url}/events`,
        method: 'POST',
        nextBody: uniqueEventSource(),
        connections: settings.connections,
        durationSec: settings.loadSec,
        warmupSec: settings.warmupSec,
        serverPid,
      }))
    : undefined;
  const ingestServiceStarting = want(1)
    ? startService({ name: 'service-ingest', dbPath: join(workDir, 'ingest.db'), modelsDir, logFile: join(logDir, 'service-ingest.log'), cpuProfileDir: profileDir('1-ingest') })
    : undefined;
  // Settle them all even when one fails, so none is left behind unawaited.
  const started = Promise.allSettled([helloStarting, minimalStarting, ingestServiceStarting]);

  log(`reading ${args.data}${settings.keepEverySeries > 1 ? ` (one series in ${settings.keepEverySeries})` : ''}`);
  const data = readFares(args.data!, settings.keepEverySeries);
  const bulkFares = args.order === 'time' ? inTimeOrder(data.fares) : data.fares;
  notes.push(`bulk data: ${data.fares.length.toLocaleString('en')} observations of ${data.series.length.toLocaleString('en')} series, ${args.order} order`);

  const [helloResult, minimalResult, ingestResult] = await started;
  const failed = [helloResult, minimalResult, ingestResult].find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const hello = helloResult.status === 'fulfilled' ? helloResult.value : undefined;
  const minimal = minimalResult.status === 'fulfilled' ? minimalResult.value : undefined;
  const ingestService = ingestResult.status === 'fulfilled' ? ingestResult.value : undefined;
  if (ingestService) profiledServices.set('1-ingest', ingestService.pid);

  if (want(2)) {
    log(`baseline (c): better-sqlite3 insert of ${bulkFares.length.toLocaleString('en')} rows`);
    baselines.sqliteInsert = sqliteInsertBaseline(bulkFares);
  }

  let phases: ServicePhases = { targets: [], backend: null, functionIds: [] };
  try {
    if (minimal && ingestService) {
      log('baseline (b) before target 1: hono + zod + better-sqlite3 POST');
      const before = await minimal.measure();
      const ingest = await singleEventIngest(ingestService);
      log('baseline (b) after target 1');
      const after = await minimal.measure();
      baselines.minimalIngest = mergeLoads([before, after]);
      targets.push(ingestTarget(ingest, baselines.minimalIngest));
    }
    await minimal?.stop();
    if (want(2, 3, 4, 5, 6, 7)) phases = await servicePhases(data, bulkFares, modelsDir, baselines, hello, profileDir);
  } finally {
    await Promise.all([hello?.stop(), minimal?.stop(), ingestService?.stop(30_000)]);
  }
  targets.push(...phases.targets);
  targets.sort((a, b) => a.id - b.id);
  const { backend, functionIds } = phases;

  const report: BenchReport = {
    format: 1,
    date: new Date(startedAt).toISOString(),
    command,
    quick: QUICK,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      memoryMb: Math.round(totalmem() / 1024 / 1024),
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    service: { backend, model: shippedModel, functions: functionIds, notes },
    baselines,
    targets,
  };

  process.stdout.write(`\nfaresight benchmark, ${report.date}, ${QUICK ? 'quick' : 'full'} run, ${((Date.now() - startedAt) / 1000).toFixed(0)} s\n`);
  process.stdout.write(`machine: ${report.machine.cpus} cores (${report.machine.cpuModel}), Node ${report.machine.node}, free memory ${Math.round(freemem() / 1048576)} MB, load ${report.machine.loadAverage.join(' ')}\n`);
  process.stdout.write(`service: tfjs backend ${backend ?? 'not reported'}, model ${shippedModel ?? 'none'}, functions ${functionIds.join(', ') || 'none listed'}\n`);
  for (const note of notes) process.stdout.write(`note: ${note}\n`);
  process.stdout.write(`\n${formatTable(report)}\n`);

  let profiles: Record<string, { file: string; process?: string; frames: Frame[] }[]> | undefined;
  if (args.profile) {
    profiles = {};
    for (const name of ['1-ingest', '2-import', '3-reads', '5-retrain', '4-latency', '7-start']) {
      profiles[name] = summarizeProfiles(join(profileRoot, name)).map((p) => ({
        ...p,
        process: pidOfProfile(p.file) === profiledServices.get(name) ? 'the service' : 'a child process of the service (the training child)',
      }));
      for (const p of profiles[name]) {
        process.stdout.write(`\nprofile ${name}, ${p.process}: ${p.file}\n${formatFrames(p.frames).map((l) => `  ${l}`).join('\n')}\n`);
      }
      for (const a of summarizeAllocations(join(profileRoot, name))) {
        const who = pidOfProfile(a.file) === profiledServices.get(name) ? 'the service' : 'a child process of the service';
        process.stdout.write(
          `\nallocations ${name}, ${who}: ${a.totalMb.toFixed(0)} MB sampled, ${a.file}\n${formatAllocations(a.sites).map((l) => `  ${l}`).join('\n')}\n`,
        );
      }
    }
    (report as BenchReport & { profiles?: unknown }).profiles = profiles;
  }

  const out = resolve(repoRoot, args.json!);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, reportJson(report));
  process.stdout.write(`\nwritten to ${out}\n`);

  if (args['write-doc']) {
    const doc = resolve(repoRoot, 'docs/performance.md');
    let text = readFileSync(doc, 'utf8');
    if (profiles) {
      // A profiled run is slower: it fills the profiles section only, never the results.
      text = replaceBetweenMarkers(text, formatProfilesMarkdown(profiles, `Profiled run of ${report.date.slice(0, 16).replace('T', ' ')} UTC, \`${command}\`.`), 'profiles');
    } else {
      text = replaceBetweenMarkers(text, formatMarkdownReport(report));
    }
    writeFileSync(doc, text);
    process.stdout.write(`written into ${doc}\n`);
  }

  if (args.compare) {
    const before = JSON.parse(readFileSync(resolve(repoRoot, args.compare), 'utf8')) as BenchReport;
    process.stdout.write(`\n${formatComparison(before, report)}\n`);
  }
}

main()
  .then(() => {
    if (!args.keep) rmSync(workDir, { recursive: true, force: true });
    process.exit(0);
  })
  .catch((error) => {
    process.stderr.write(`benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    if (!args.keep) rmSync(workDir, { recursive: true, force: true });
    process.exit(1);
  });
