/**
 * Crash test: runs the real service as a child process, sends fare events over several
 * connections, SIGKILLs the service at random moments and restarts it on the same database.
 * At the end it checks that every acknowledged event is stored once and processed once,
 * that unacknowledged requests are all-or-nothing, and that the derived state equals a
 * clean replay of the stored events.
 *
 *   npm run test:crash -- --kills 5 --events 20000 --seed 42
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { FARE_OBSERVED } from '../src/events/catalog.js';
import { canonicalContent, FareEventInput, idempotencyKeyOf, unpackFareEvent, type FareEvent } from '../src/events/fare-event.js';
import { ingestFareEvents } from '../src/ingest.js';
import { writeTinyModel } from '../src/model/testing.js';
import { createService } from '../src/service.js';
import { childService, REPO_ROOT, scratchDir, type ChildService } from './lib/child-service.js';
import { prng } from '../src/lib/prng.js';

const { values: args } = parseArgs({
  options: {
    kills: { type: 'string', default: '5' },
    events: { type: 'string', default: '20000' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    connections: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
    /** The models folder; default: models/ when it names a current model, else a tiny untrained one. */
    models: { type: 'string' },
  },
});
const KILLS = Number(args.kills);
const TOTAL_EVENTS = Number(args.events);
const SEED = Number(args.seed);
const CONNECTIONS = Number(args.connections);
if (![KILLS, TOTAL_EVENTS, SEED, CONNECTIONS].every(Number.isInteger) || KILLS < 0 || TOTAL_EVENTS < CONNECTIONS || CONNECTIONS < 1) {
  console.error('usage: crash-test [--kills N] [--events N] [--seed N] [--connections N] [--keep]');
  process.exit(2);
}

const random = prng(SEED);
const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Load: each connection owns its own routes and sends them in observedAt order, so the order in
// which each route reaches extract-features is the same in this run and in the clean replay.

const ROUTES_PER_CONNECTION = 3;
const DEPARTURES_PER_ROUTE = 6;
const CURRENCIES = ['EUR', 'EUR', 'GBP', 'PLN', 'HUF'];

function airportCode(n: number): string {
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  return `Q${letters[Math.floor(n / 26) % 26]}${letters[n % 26]}`;
}

interface Request {
  id: number;
  connection: number;
  events: Record<string, unknown>[];
  /** Single event sent as an object, batch as an array, or NDJSON. */
  format: 'object' | 'array' | 'ndjson';
  wait: boolean;
}

function buildStream(connection: number, count: number): Record<string, unknown>[] {
  const series: { origin: string; destination: string; departureDate: string; currency: string; price: number }[] = [];
  for (let r = 0; r < ROUTES_PER_CONNECTION; r++) {
    const routeIndex = connection * ROUTES_PER_CONNECTION + r;
    const origin = airportCode(2 * routeIndex);
    const destination = airportCode(2 * routeIndex + 1);
    const currency = CURRENCIES[between(0, CURRENCIES.length - 1)];
    for (let d = 0; d < DEPARTURES_PER_ROUTE; d++) {
      const departureDate = new Date(Date.UTC(2026, 0, 1) + between(0, 300) * 86_400_000).toISOString().slice(0, 10);
      if (series.some((s) => s.origin === origin && s.departureDate === departureDate)) continue;
      series.push({ origin, destination, departureDate, currency, price: between(30, 300) });
    }
  }
  const events: Record<string, unknown>[] = [];
  // Strictly increasing observedAt within a connection: keys never collide and routes stay in order.
  let t = Date.UTC(2025, 0, 1) + connection * 1000;
  for (let i = 0; i < count; i++) {
    t += between(1, 90) * 60_000;
    const s = series[between(0, series.length - 1)];
    s.price = Math.max(5, Math.round((s.price * (0.9 + random() * 0.2)) * 100) / 100);
    const event: Record<string, unknown> = {
      origin: s.origin,
      destination: s.destination,
      departureDate: s.departureDate,
      observedAt: new Date(t).toISOString(),
      price: s.price,
      currency: s.currency,
    };
    if (random() < 0.3) event.id = `crash-${SEED}-${connection}-${i}`;
    if (random() < 0.5) event.carrier = 'W6';
    if (random() < 0.5) event.flightNumbers = [String(between(1000, 9999))];
    events.push(event);
  }
  return events;
}

let requestIds = 0;
function chunkStream(connection: number, events: Record<string, unknown>[]): Request[] {
  const requests: Request[] = [];
  let i = 0;
  while (i < events.length) {
    const roll = random();
    const size = roll < 0.3 ? 1 : roll < 0.65 ? between(2, 20) : roll < 0.95 ? between(21, 100) : between(101, 1000);
    const slice = events.slice(i, i + size);
    i += slice.length;
    const format = slice.length === 1 && random() < 0.8 ? 'object' : random() < 0.15 ? 'ndjson' : 'array';
    requests.push({ id: ++requestIds, connection, events: slice, format, wait: random() < 0.1 });
  }
  return requests;
}

// ---------------------------------------------------------------------------------------------
// Client bookkeeping.

type Outcome =
  | { kind: 'acknowledged'; accepted: number; duplicates: number }
  | { kind: 'unacknowledged'; error: string }
  | { kind: 'refused' }
  | { kind: 'rejected'; status: number; body: string };

const violations: string[] = [];
const fail = (message: string) => {
  if (violations.length < 50) console.error(`VIOLATION: ${message}`);
  violations.push(message);
};

const stats = {
  requestsSent: 0,
  acknowledgedRequests: 0,
  repeatsSent: 0,
  retriedAfterKill: 0,
  abandonedAfterKill: 0,
  unavailable503: 0,
  sentEvents: 0,
};
/** Keys of events a 202 covered. */
const acknowledgedKeys = new Map<string, string>();
/** Requests whose fate the client never learned and did not retry. */
const abandoned: Request[] = [];
const acknowledgedRequests: Request[] = [];

function normalise(raw: Record<string, unknown>): FareEvent {
  return FareEventInput.parse(raw);
}

function bodyOf(request: Request): { body: string; contentType: string } {
  if (request.format === 'ndjson') {
    return { body: request.events.map((e) => JSON.stringify(e)).join('\n') + '\n', contentType: 'application/x-ndjson' };
  }
  return {
    body: JSON.stringify(request.format === 'object' ? request.events[0] : request.events),
    contentType: 'application/json',
  };
}

async function send(service: ChildService, request: Request): Promise<Outcome> {
  const { body, contentType } = bodyOf(request);
  try {
    const res = await fetch(`${service.url}/v1/events${request.wait ? '?wait=true' : ''}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (res.status === 202) {
      const parsed = JSON.parse(text) as { accepted: number; duplicates: number };
      return { kind: 'acknowledged', accepted: parsed.accepted, duplicates: parsed.duplicates };
    }
    return { kind: 'rejected', status: res.status, body: text };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    // Nothing listened: the request never left this machine's connect() call.
    if (cause?.code === 'ECONNREFUSED') return { kind: 'refused' };
    return { kind: 'unacknowledged', error: String(cause?.code ?? (error as Error).message) };
  }
}

const serviceState = { up: false };
/** Resolvers waiting for the next 202: kills aimed at the moment functions process a fresh batch. */
const ackWaiters: (() => void)[] = [];
function nextAcknowledgement(timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    ackWaiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
async function waitUp(): Promise<void> {
  while (!serviceState.up) await sleep(20);
}

/**
 * The last slice of the load waits for the kills: however fast the service ingests, every kill
 * falls while requests are still to be sent.
 */
const holdBack = { from: Number.POSITIVE_INFINITY, killsDone: false };
async function waitForKillsBeforeLastSlice(): Promise<void> {
  while (stats.sentEvents >= holdBack.from && !holdBack.killsDone) await sleep(10);
}

async function runConnection(service: ChildService, requests: Request[], rng: () => number, isDone: () => boolean): Promise<void> {
  const recent: Request[] = [];
  for (const request of requests) {
    await waitForKillsBeforeLastSlice();
    for (;;) {
      await waitUp();
      stats.requestsSent++;
      const outcome = await send(service, request);
      if (outcome.kind === 'refused') {
        stats.requestsSent--;
        await sleep(20);
        continue;
      }
      if (outcome.kind === 'acknowledged') {
        const size = request.events.length;
        if (outcome.accepted + outcome.duplicates !== size) {
          fail(`request ${request.id}: accepted ${outcome.accepted} + duplicates ${outcome.duplicates} != ${size} events`);
        }
        // A request is atomic: after an unacknowledged try, a retry finds all of it or none of it.
        if (outcome.accepted !== 0 && outcome.accepted !== size) {
          fail(`request ${request.id}: partially stored before (accepted ${outcome.accepted} of ${size} on retry)`);
        }
        stats.acknowledgedRequests++;
        for (const wake of ackWaiters.splice(0)) wake();
        stats.sentEvents += size;
        acknowledgedRequests.push(request);
        for (const event of request.events) {
          const normalised = normalise(event);
          acknowledgedKeys.set(idempotencyKeyOf(normalised), canonicalContent(normalised));
        }
        recent.push(request);
        if (recent.length > 20) recent.shift();
        break;
      }
      if (outcome.kind === 'rejected') {
        if (outcome.status === 503) {
          // Storage said "try again": nothing of it may be stored; retry like a client would.
          stats.unavailable503++;
          await sleep(100);
          continue;
        }
        fail(`request ${request.id}: unexpected ${outcome.status}: ${outcome.body.slice(0, 300)}`);
        break;
      }
      // Cut off by a kill: retry half of them once the service is back, abandon the rest.
      stats.sentEvents += request.events.length;
      if (rng() < 0.5) {
        stats.retriedAfterKill++;
        continue;
      }
      stats.abandonedAfterKill++;
      abandoned.push(request);
      break;
    }
    // Now and then a client sends an acknowledged batch again: it must come back as duplicates.
    if (recent.length > 1 && rng() < 0.08 && !isDone()) {
      const again = recent[Math.floor(rng() * (recent.length - 1))];
      await waitUp();
      const outcome = await send(service, again);
      stats.repeatsSent++;
      if (outcome.kind === 'acknowledged' && outcome.accepted !== 0) {
        fail(`repeat of acknowledged request ${again.id} stored ${outcome.accepted} events again`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

interface FunctionStatsBody {
  functions: { id: string; triggers: string[]; lag: number; deadLetters: number }[];
}

async function functionStats(service: ChildService): Promise<FunctionStatsBody['functions']> {
  const res = await fetch(`${service.url}/v1/functions`);
  if (res.status !== 200) throw new Error(`GET /v1/functions answered ${res.status}`);
  return ((await res.json()) as FunctionStatsBody).functions;
}

async function waitForZeroLag(service: ChildService, timeoutMs: number): Promise<FunctionStatsBody['functions']> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fns = await functionStats(service);
    if (fns.every((f) => f.lag === 0)) return fns;
    if (Date.now() > deadline) throw new Error(`lag did not reach 0: ${JSON.stringify(fns.map((f) => [f.id, f.lag]))}`);
    await sleep(200);
  }
}

function readStoredFareEvents(db: Database.Database): { seq: number; key: string; content_hash: string | null; root: number; event: FareEvent }[] {
  const rows = db
    .prepare('SELECT seq, key, content_hash, root, payload FROM event_log WHERE type = ? ORDER BY seq')
    .all(FARE_OBSERVED) as { seq: number; key: string | null; content_hash: string | null; root: number; payload: string }[];
  return rows.map(({ payload, ...row }) => {
    const event = unpackFareEvent(payload);
    // The log stores no key a fare event's payload derives.
    return { ...row, key: row.key ?? idempotencyKeyOf(event), event };
  });
}

/**
 * Forecast fields read from the route statistics as they are when predict runs, not as of the
 * event: they depend on how far extract-features got by then, so they differ between any two
 * runs, crashes or not. Compared separately and reported, not counted as violations.
 */
const PROCESSING_TIME_FIELDS = ['typicalPriceRange', 'priceLevel', 'outlook'];

/** Splits forecast rows into what must equal the replay and what depends on processing time. */
function splitForecasts(rows: Map<string, unknown>): { strict: Map<string, unknown>; live: Map<string, unknown> } {
  const strict = new Map<string, unknown>();
  const live = new Map<string, unknown>();
  const pick = (from: Record<string, unknown>, keep: boolean) =>
    Object.fromEntries(Object.entries(from).filter(([k]) => PROCESSING_TIME_FIELDS.includes(k) === keep));
  for (const [key, row] of rows) {
    // The fields may be columns (the outlook is packed in its own) or keys of the JSON payload.
    const columns = row as Record<string, unknown>;
    const payload = columns.payload && typeof columns.payload === 'object' ? (columns.payload as Record<string, unknown>) : undefined;
    live.set(key, { ...pick(columns, true), ...(payload ? pick(payload, true) : {}) });
    strict.set(key, { ...pick(columns, false), ...(payload ? { payload: pick(payload, false) } : {}) });
  }
  return { strict, live };
}

/** Wall-clock columns, and write counters (how many times a row was written depends on batching). */
const WALL_CLOCK_COLUMN = /(^|_)(created|updated|computed|generated|trained|served)(_at)?$|^revision$/i;
const WALL_CLOCK_KEY = /^(created|updated|computed|generated|trained|served)At$/;

function withoutWallClock(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutWallClock);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([k]) => !WALL_CLOCK_KEY.test(k))
        .map(([k, v]) => [k, withoutWallClock(v)]),
    );
  }
  return value;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return sameValue(ka, kb) && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/** The paths at which two values differ, for a readable report. */
function differingPaths(a: unknown, b: unknown, path = ''): string[] {
  if (sameValue(a, b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) === !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => differingPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`));
  }
  return [`${path || '.'}: ${JSON.stringify(a)?.slice(0, 80)} vs ${JSON.stringify(b)?.slice(0, 80)}`];
}

function tableExists(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** Rows of a table as plain objects keyed by `keyColumn`, JSON columns parsed, wall-clock columns dropped. */
function tableSnapshot(db: Database.Database, table: string, keyColumn: string): Map<string, unknown> {
  const rows = db.prepare(`SELECT * FROM "${table.replace(/"/g, '')}"`).all() as Record<string, unknown>[];
  const out = new Map<string, unknown>();
  for (const row of rows) {
    const clean: Record<string, unknown> = {};
    for (const [column, value] of Object.entries(row)) {
      if (WALL_CLOCK_COLUMN.test(column)) continue;
      if (Buffer.isBuffer(value)) clean[column] = value.toString('hex');
      else if (typeof value === 'string' && /^[[{]/.test(value)) {
        try {
          clean[column] = withoutWallClock(JSON.parse(value));
        } catch {
          clean[column] = value;
        }
      } else clean[column] = value;
    }
    out.set(String(row[keyColumn]), clean);
  }
  return out;
}

function compareTables(name: string, crashed: Map<string, unknown>, replayed: Map<string, unknown>): number {
  let differences = 0;
  for (const [key, value] of crashed) {
    if (!replayed.has(key)) {
      differences++;
      if (differences <= 5) fail(`${name} ${key}: present after the crashes, absent in the clean replay`);
    } else if (!sameValue(value, replayed.get(key))) {
      differences++;
      if (differences <= 5) {
        fail(`${name} ${key}: differs from the clean replay at\n    ${differingPaths(value, replayed.get(key)).slice(0, 8).join('\n    ')}`);
      }
    }
  }
  for (const key of replayed.keys()) {
    if (!crashed.has(key)) {
      differences++;
      if (differences <= 5) fail(`${name} ${key}: absent after the crashes, present in the clean replay`);
    }
  }
  if (differences > 5) fail(`${name}: ${differences} rows differ in all`);
  return differences;
}

async function main(): Promise<void> {
  const started = Date.now();
  const dir = scratchDir('faresight-crash-');
  const dbPath = join(dir.path, 'crash.db');
  // Forecasts need a model: the repository's serving one, or a tiny untrained one (same for the replay).
  let modelsDir = args.models ?? join(REPO_ROOT, 'models');
  if (!args.models && !existsSync(join(modelsDir, 'current'))) {
    modelsDir = join(dir.path, 'models');
    await writeTinyModel(modelsDir, { promote: true, seed: SEED });
  }
  const baseEnv = { FARESIGHT_MODELS_DIR: modelsDir, FARESIGHT_RETRAIN_AFTER_EVENTS: '0', FARESIGHT_RETRAIN_CRON: '' };
  const service = await childService({ dbPath, env: baseEnv });
  console.log(`crash test: seed ${SEED}, ${TOTAL_EVENTS} events over ${CONNECTIONS} connections, ${KILLS} kills; database ${dbPath}, models ${modelsDir}`);

  const perConnection = Math.floor(TOTAL_EVENTS / CONNECTIONS);
  const plans = Array.from({ length: CONNECTIONS }, (_, c) =>
    chunkStream(c, buildStream(c, c === CONNECTIONS - 1 ? TOTAL_EVENTS - perConnection * (CONNECTIONS - 1) : perConnection)),
  );
  const connectionRngs = plans.map((_, c) => prng(SEED * 31 + c + 1));
  const total = plans.reduce((n, p) => n + p.reduce((m, r) => m + r.events.length, 0), 0);

  await service.start();
  serviceState.up = true;

  let loadDone = false;
  holdBack.from = (total * KILLS) / (KILLS + 1);
  const load = Promise.all(plans.map((plan, c) => runConnection(service, plan, connectionRngs[c], () => loadDone))).then(() => {
    loadDone = true;
  });

  let killsDuringLoad = 0;
  for (let k = 0; k < KILLS; k++) {
    // Spread kills over the load: the k-th falls somewhere in the k-th of KILLS + 1 slices of the
    // events sent. The last slice is left to the load, so that the last kill still finds it running.
    const target = (total * (k + 0.2 + 0.6 * random())) / (KILLS + 1);
    while (stats.sentEvents < target && !loadDone) await sleep(5);
    // Half the kills land just after a 202, while functions process that batch; half at any moment.
    if (random() < 0.5) {
      await nextAcknowledgement(2000);
      await sleep(between(0, 40));
    } else await sleep(between(0, 250));
    serviceState.up = false;
    const exit = await service.kill('SIGKILL');
    if (exit.signal !== 'SIGKILL') fail(`kill ${k + 1}: the service had already exited (${JSON.stringify(exit)})`);
    if (!loadDone) killsDuringLoad++;
    process.stdout.write(`  kill ${k + 1} at ${stats.sentEvents}/${total} events sent; restarting... `);
    const t0 = Date.now();
    await service.start();
    serviceState.up = true;
    console.log(`ready in ${Date.now() - t0} ms`);
  }
  holdBack.killsDone = true;
  await load;

  // One more kill with the backlog still being processed, then the final restart.
  serviceState.up = false;
  await service.kill('SIGKILL');
  await service.start();
  serviceState.up = true;
  console.log(`load done in ${((Date.now() - started) / 1000).toFixed(1)} s; final restart done; waiting for lag 0`);

  // ---- Through the API.
  const fns = await waitForZeroLag(service, 300_000);
  for (const fn of fns) if (fn.deadLetters !== 0) fail(`function ${fn.id} has ${fn.deadLetters} dead letters`);
  const deadRes = await fetch(`${service.url}/v1/dead-letters`);
  const dead = (await deadRes.json()) as { deadLetters: unknown[] };
  if (deadRes.status !== 200 || dead.deadLetters.length !== 0) fail(`GET /v1/dead-letters: ${deadRes.status}, ${dead.deadLetters?.length} dead letters`);

  // ---- The database, read-only, while the service idles.
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  const stored = readStoredFareEvents(db);
  const storedByKey = new Map<string, { seq: number; content: string; count: number }>();
  let duplicated = 0;
  for (const row of stored) {
    const known = storedByKey.get(row.key);
    if (known) {
      known.count++;
      duplicated++;
    } else storedByKey.set(row.key, { seq: row.seq, content: row.content_hash ?? canonicalContent(row.event), count: 1 });
    if (row.root !== row.seq) fail(`fare event ${row.seq} has root ${row.root}`);
  }
  if (duplicated > 0) fail(`${duplicated} fare events are stored more than once`);

  let lost = 0;
  for (const [key, content] of acknowledgedKeys) {
    const row = storedByKey.get(key);
    if (!row) {
      lost++;
      if (lost <= 5) fail(`acknowledged event ${key} is not stored`);
    } else if (row.content !== content) fail(`acknowledged event ${key} is stored with other content`);
  }
  if (lost > 5) fail(`${lost} acknowledged events are not stored`);

  let unackPresentEvents = 0;
  let unackAbsentEvents = 0;
  let unackPresentRequests = 0;
  let unackAbsentRequests = 0;
  const abandonedKeys = new Set<string>();
  for (const request of abandoned) {
    const keys = request.events.map((e) => idempotencyKeyOf(normalise(e)));
    const present = keys.filter((k) => storedByKey.has(k) && !acknowledgedKeys.has(k)).length;
    const fresh = keys.filter((k) => !acknowledgedKeys.has(k));
    for (const k of fresh) abandonedKeys.add(k);
    if (present !== 0 && present !== fresh.length) {
      fail(`unacknowledged request ${request.id} is partly stored: ${present} of ${fresh.length} events`);
    }
    if (present > 0) {
      unackPresentRequests++;
      unackPresentEvents += present;
    } else {
      unackAbsentRequests++;
      unackAbsentEvents += fresh.length;
    }
  }
  for (const key of storedByKey.keys()) {
    if (!acknowledgedKeys.has(key) && !abandonedKeys.has(key)) fail(`stored event ${key} was never sent`);
  }

  // Every stored event processed by every function it triggers.
  const cursors = new Map(
    (db.prepare('SELECT function_id, position FROM function_cursors').all() as { function_id: string; position: number }[]).map((r) => [
      r.function_id,
      r.position,
    ]),
  );
  for (const fn of fns) {
    const placeholders = fn.triggers.map(() => '?').join(',');
    const last = (db.prepare(`SELECT coalesce(max(seq), 0) AS seq FROM event_log WHERE type IN (${placeholders})`).get(...fn.triggers) as {
      seq: number;
    }).seq;
    const cursor = cursors.get(fn.id) ?? 0;
    if (cursor < last) fail(`function ${fn.id}: cursor ${cursor} is behind its last trigger event ${last}`);
  }
  const deliveries = db.prepare('SELECT status, count(*) AS n FROM deliveries GROUP BY status').all() as { status: string; n: number }[];
  for (const d of deliveries) if (d.n > 0) fail(`${d.n} deliveries are ${d.status}`);
  // extract-features folded every stored fare event into its series exactly once.
  const unfolded = db
    .prepare(
      `SELECT f.series, f.n AS events, coalesce(s.observations, 0) AS observations
       FROM (SELECT series, count(*) AS n FROM event_log WHERE type = ? GROUP BY series) f
       LEFT JOIN series s ON s.key = f.series
       WHERE coalesce(s.observations, 0) != f.n`,
    )
    .all(FARE_OBSERVED) as { series: string; events: number; observations: number }[];
  for (const row of unfolded.slice(0, 5)) fail(`series ${row.series} holds ${row.observations} observations of its ${row.events} fare events`);
  if (unfolded.length > 5) fail(`${unfolded.length} series do not hold each of their fare events once`);

  const crashedSeries = tableSnapshot(db, 'series', 'key');
  const crashedRoutes = tableExists(db, 'route_stats') ? tableSnapshot(db, 'route_stats', 'key') : new Map();
  const crashedForecasts = tableExists(db, 'forecasts') ? tableSnapshot(db, 'forecasts', 'series') : new Map();
  const storedEvents = stored.map((row) => row.event);
  db.close();

  // Sending every acknowledged event again stores nothing new.
  let resentDuplicates = 0;
  let resentAccepted = 0;
  const allAcknowledged = acknowledgedRequests.flatMap((r) => r.events);
  for (let i = 0; i < allAcknowledged.length; i += 5000) {
    const res = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(allAcknowledged.slice(i, i + 5000)),
    });
    const body = (await res.json()) as { accepted: number; duplicates: number };
    if (res.status !== 202) fail(`resending acknowledged events answered ${res.status}: ${JSON.stringify(body)}`);
    resentAccepted += body.accepted ?? 0;
    resentDuplicates += body.duplicates ?? 0;
  }
  if (resentAccepted !== 0) fail(`resending every acknowledged event stored ${resentAccepted} of them again`);
  await service.stop();

  // ---- A clean replay of the stored events, in-process on a fresh database.
  const replayConfig = loadConfig({
    ...baseEnv,
    FARESIGHT_DB_PATH: join(dir.path, 'replay.db'),
    FARESIGHT_LOG_LEVEL: 'silent',
  });
  const replay = createService({ config: replayConfig });
  await (replay.modelProvider as { ready?: () => Promise<void> }).ready?.();
  for (let i = 0; i < storedEvents.length; i += 1000) ingestFareEvents(replay.storage, storedEvents.slice(i, i + 1000));
  replay.runtime.start();
  const drained = await replay.runtime.drain(300_000);
  if (drained.timedOut) fail(`the clean replay did not drain: ${drained.pending} pending`);
  const rdb = replay.database.sqlite;
  const seriesDiff = compareTables('series', crashedSeries, tableSnapshot(rdb, 'series', 'key'));
  const routeDiff = tableExists(rdb, 'route_stats') ? compareTables('route_stats', crashedRoutes, tableSnapshot(rdb, 'route_stats', 'key')) : 0;
  const replayedForecasts = tableExists(rdb, 'forecasts') ? tableSnapshot(rdb, 'forecasts', 'series') : new Map();
  const crashedSplit = splitForecasts(crashedForecasts);
  const replayedSplit = splitForecasts(replayedForecasts);
  const forecastDiff = compareTables('forecasts', crashedSplit.strict, replayedSplit.strict);
  let liveDiff = 0;
  for (const [key, value] of crashedSplit.live) if (replayedSplit.live.has(key) && !sameValue(value, replayedSplit.live.get(key))) liveDiff++;
  await replay.close();

  if (killsDuringLoad < KILLS) fail(`only ${killsDuringLoad} of ${KILLS} kills fell during the load`);
  const acknowledged = acknowledgedKeys.size;
  console.log('');
  console.log(`events generated           ${total}`);
  console.log(`requests sent              ${stats.requestsSent} (${stats.acknowledgedRequests} acknowledged, ${stats.repeatsSent} repeats, ${stats.unavailable503} answered 503)`);
  console.log(`acknowledged events        ${acknowledged}`);
  console.log(`stored fare events         ${stored.length}`);
  console.log(`lost                       ${lost}`);
  console.log(`duplicated                 ${duplicated}`);
  console.log(`unacknowledged, retried    ${stats.retriedAfterKill} requests`);
  console.log(`unacknowledged, abandoned  ${abandoned.length} requests: ${unackPresentRequests} fully present (${unackPresentEvents} events), ${unackAbsentRequests} fully absent (${unackAbsentEvents} events)`);
  console.log(`resent acknowledged        ${resentDuplicates} duplicates, ${resentAccepted} stored again`);
  console.log(`kills survived             ${killsDuringLoad} during load + 1 after (${service.starts} starts)`);
  console.log(`clean replay               series ${crashedSeries.size} (${seriesDiff} differ), route stats ${crashedRoutes.size} (${routeDiff} differ), forecasts ${crashedForecasts.size} (${forecastDiff} differ)`);
  console.log(`                           (forecast fields from live route statistics, ${PROCESSING_TIME_FIELDS.join(', ')}: ${liveDiff} series differ, expected)`);
  console.log(`violations                 ${violations.length}`);
  console.log(`time                       ${((Date.now() - started) / 1000).toFixed(1)} s`);

  if (violations.length > 0 || args.keep) console.log(`kept ${dir.path} (service log: ${service.logPath})`);
  else dir.remove();
  process.exit(violations.length > 0 ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
