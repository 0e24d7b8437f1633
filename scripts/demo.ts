/**
 * The demo: a fresh service on an empty temporary database replays the real fare
 * sample in data/ through its HTTP API, one search day at a time in event time, and
 * prints how the forecasts of a few departures evolved as their fares came in.
 *
 *   npm run demo                       replay, print, stop
 *   npm run demo -- --serve            then keep serving, to browse the price page
 *   npm run demo -- --days 40          replay only the first 40 search days
 *   npm run demo -- --input FILE.csv.gz
 *
 * The model served is models/current when there is one (FARESIGHT_MODELS_DIR);
 * otherwise an untrained placeholder, and the demo says so.
 */
import { serve } from '@hono/node-server';
import { parse } from 'csv-parse';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigSchema } from '../src/config.js';
import type { FareEvent } from '../src/events/fare-event.js';
import type { Forecast } from '../src/forecast/types.js';
import { openFareFile } from '../src/importer/import-csv.js';
import { mapRow, resolveMapping } from '../src/importer/mapping.js';
import { createLogger } from '../src/logger.js';
import { readPointer } from '../src/model/artifacts.js';
import type { FareModel, ModelProvider } from '../src/model/predictor.js';
import { createModelProvider, createStaticModelProvider } from '../src/model/provider.js';
import { createTinyModel } from '../src/model/testing.js';
import { createService } from '../src/service.js';
import { runMain, UsageError } from './lib/cli.js';

/** How many departures to follow, one per route, at most. */
const FOLLOWED = 3;

const { values: args } = parseArgs({
  options: {
    input: { type: 'string', default: 'data/wizz-sample.csv.gz' },
    days: { type: 'string' },
    serve: { type: 'boolean', default: false },
  },
});

/** Reads the sample with the importer's column mapping and validation. */
async function readEvents(path: string): Promise<FareEvent[]> {
  if (!existsSync(path)) throw new UsageError(`${path} does not exist`);
  const { stream } = await openFareFile(path);
  const parser = stream.pipe(parse({ relax_column_count: true, skip_empty_lines: true }));
  const events: FareEvent[] = [];
  let resolved: ReturnType<typeof resolveMapping> | undefined;
  let rejected = 0;
  for await (const record of parser as AsyncIterable<string[]>) {
    if (!resolved) {
      resolved = resolveMapping(record);
      continue;
    }
    const row = mapRow(record, resolved);
    if (row.event) events.push(row.event);
    else rejected++;
  }
  if (rejected > 0) console.log(`  (${rejected} rows of ${path} could not be read and were left out)`);
  return events;
}

/** The serving model: models/current when there is one, else an untrained placeholder. */
async function demoModel(): Promise<{ provider: ModelProvider & { close?(): void }; note: string }> {
  const modelsDir = process.env.FARESIGHT_MODELS_DIR ?? 'models';
  if (await readPointer(modelsDir).catch(() => undefined)) {
    const provider = createModelProvider({ modelsDir, pollIntervalMs: 60_000 });
    await provider.ready();
    const model = provider.current();
    if (model) return { provider, note: `model ${model.version} from ${modelsDir}/current, trained ${model.trainedAt}` };
    provider.close();
  }
  const placeholder: FareModel = await createTinyModel({ version: 'untrained-placeholder', seed: 7 });
  return {
    provider: createStaticModelProvider(placeholder),
    note: `an UNTRAINED placeholder model (no ${modelsDir}/current): its buy/wait calls are arbitrary; train one with npm run retrain`,
  };
}

const day = (iso: string) => iso.slice(0, 10);
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

interface Step {
  day: string;
  forecast: Forecast;
}

/** How many table rows a followed departure gets at most: its first and last forecasts, and evenly spaced ones. */
const TABLE_ROWS = 12;

function printSeries(series: string, steps: Step[]): void {
  if (steps.length === 0) return;
  const { currency } = steps[0].forecast;
  const money = new Intl.NumberFormat('en', { style: 'currency', currency });
  console.log(`\n${series} (${currency}), ${steps.length} forecasts; ${Math.min(TABLE_ROWS, steps.length)} of them:`);
  console.log(`  ${pad('day', 11)}${lpad('days', 5)}  ${lpad('price', 12)}  ${pad('advice', 6)}  ${lpad('conf.', 5)}  ${lpad('exp. lowest', 12)}  level`);
  const shown = new Set<number>();
  for (let k = 0; k < TABLE_ROWS; k++) shown.add(Math.round((k * (steps.length - 1)) / Math.max(1, TABLE_ROWS - 1)));
  for (const i of [...shown].sort((a, b) => a - b)) {
    const { day: d, forecast: f } = steps[i];
    console.log(
      `  ${pad(d, 11)}${lpad(String(f.daysBefore), 5)}  ${lpad(money.format(f.currentPrice), 12)}  ${pad(f.recommendation, 6)}  ${lpad(`${Math.round(f.confidence * 100)}%`, 5)}  ${lpad(money.format(f.expectedLowestPrice), 12)}  ${f.priceLevel ?? '-'}`,
    );
  }
  // What a traveller who follows the advice from the first forecast pays: the first price it says to buy at.
  const first = steps[0].forecast;
  const bought = steps.find((s) => s.forecast.recommendation === 'buy') ?? steps[steps.length - 1];
  const lowest = Math.min(...steps.map((s) => s.forecast.currentPrice));
  console.log(
    `  following the advice from ${steps[0].day}: buys on ${bought.day} at ${money.format(bought.forecast.currentPrice)}; ` +
      `buying at once: ${money.format(first.currentPrice)}; lowest seen: ${money.format(lowest)}`,
  );
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  console.log(`faresight demo: replaying ${args.input} day by day through POST /v1/events?wait=true`);
  const events = await readEvents(args.input);
  const byDay = new Map<string, FareEvent[]>();
  for (const event of events) {
    const d = day(event.observedAt);
    let list = byDay.get(d);
    if (!list) byDay.set(d, (list = []));
    list.push(event);
  }
  let days = [...byDay.keys()].sort();
  if (args.days !== undefined) {
    const n = Number(args.days);
    if (!Number.isInteger(n) || n < 1) throw new UsageError('--days must be a whole number above 0');
    days = days.slice(0, n);
  }
  const lastDay = days[days.length - 1];

  // Follow, on each of the first routes, its departure with the most observations that leaves within the replay.
  const counts = new Map<string, { route: string; departureDate: string; n: number }>();
  for (const d of days) {
    for (const e of byDay.get(d)!) {
      if (e.departureDate > lastDay) continue;
      const key = `${e.origin}-${e.destination}-${e.departureDate}`;
      const c = counts.get(key) ?? { route: `${e.origin}-${e.destination}`, departureDate: e.departureDate, n: 0 };
      c.n++;
      counts.set(key, c);
    }
  }
  const bestByRoute = new Map<string, string>();
  for (const [key, c] of [...counts].sort((a, b) => b[1].n - a[1].n || a[0].localeCompare(b[0]))) {
    if (!bestByRoute.has(c.route)) bestByRoute.set(c.route, key);
  }
  const followed = [...bestByRoute.values()].slice(0, FOLLOWED);

  const scratch = mkdtempSync(join(tmpdir(), 'faresight-demo-'));
  const { provider, note } = await demoModel();
  console.log(`serving ${note}`);
  // Retraining is off: a day-by-day replay would start one on every new day of event time,
  // long before the sample holds enough finished series to learn from.
  const config = ConfigSchema.parse({
    FARESIGHT_DB_PATH: join(scratch, 'faresight.db'),
    FARESIGHT_MODELS_DIR: join(scratch, 'models'),
    FARESIGHT_RETRAIN_AFTER_EVENTS: '0',
  });
  const service = createService({ config, logger: createLogger('warn'), modelProvider: provider });
  service.runtime.start();
  const server = serve({ fetch: service.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const steps = new Map<string, Step[]>(followed.map((s) => [s, []]));
  let sent = 0;
  for (const [i, d] of days.entries()) {
    const batch = byDay.get(d)!;
    const res = await fetch(`${base}/v1/events?wait=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
    if (res.status !== 202) throw new Error(`POST /v1/events answered ${res.status}: ${await res.text()}`);
    sent += batch.length;
    for (const series of followed) {
      const [origin, destination] = series.split('-');
      const res = await fetch(`${base}/v1/forecast?origin=${origin}&destination=${destination}&departureDate=${series.slice(8)}`);
      if (res.status !== 200) continue;
      const forecast = (await res.json()) as Forecast;
      const list = steps.get(series)!;
      if (day(forecast.asOf) === d && list.at(-1)?.forecast.asOf !== forecast.asOf) list.push({ day: d, forecast });
    }
    if ((i + 1) % 20 === 0 || i === days.length - 1) {
      process.stdout.write(`  day ${i + 1}/${days.length} (${d}): ${sent.toLocaleString('en')} events sent\n`);
    }
  }

  for (const series of followed) printSeries(series, steps.get(series)!);
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.log(`\nreplayed ${sent.toLocaleString('en')} fare events over ${days.length} search days in ${seconds} s`);

  const stop = async () => {
    server.close();
    await service.close();
    rmSync(scratch, { recursive: true, force: true });
  };
  if (args.serve) {
    console.log(`serving at ${base}/ (price page) and ${base}/docs (API reference); Ctrl-C to stop`);
    const shutdown = () => void stop().then(() => process.exit(0));
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
    return;
  }
  await stop();
}

runMain(main);
