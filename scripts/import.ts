/**
 * Imports a CSV (plain or gzipped) of fare observations into the configured database, through the
 * same validation and idempotency as POST /v1/events. See `npm run import -- --help`.
 */
import { SingleBar } from 'cli-progress';
import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Config } from '../src/config.js';
import { DEFAULT_BATCH_SIZE, ImportError, importFareFile, openFareFile, type ImportSummary } from '../src/importer/import-csv.js';
import type { ColumnMapping } from '../src/importer/mapping.js';
import { count, openConfiguredStorage, runMain, UsageError } from './lib/cli.js';

const HELP = `Usage: npm run import -- FILE.csv[.gz] [options]

Sends a CSV of fare observations through the API's validation and idempotency into the
configured database (FARESIGHT_DB_PATH, default data/faresight.db). Invalid rows are rejected
with a reason; valid ones are stored in atomic batches. Re-importing a file stores nothing new.
A running service picks the new events up within a second; without one, add --process.

Column mapping (defaults read the Wizz format of data/wizz-sample.csv.gz):
  --origin COL            origin airport (default origin)
  --destination COL       destination airport (default destination)
  --departure-date COL    departure date, YYYY-MM-DD (default departure_date)
  --observed-at COL       when the price was seen (default search_ts_ms): epoch ms, epoch s,
                          an ISO date-time with a zone, or a bare YYYY-MM-DD date read as 00:00Z
                          (numbers below 1e11 are seconds, from 1e9 = 2001-09-09 on)
  --price COL             price (default price_local)
  --currency COL          ISO 4217 currency code (default currency)
  --currency-value CODE   one fixed currency for every row, instead of a column
  --carrier COL           airline code; 'UA||DL' or 'UA;DL' gives UA (default carrier, if present)
  --flight-numbers COL    flight numbers, split on spaces, ';' or '||'
                          (default flight_numbers, if present)
  --id COL[,COL...]       client event id, joined with ':' from these columns: the idempotency
                          key instead of route + departure date + observed-at

Options:
  --batch-size N          events per transaction (default ${DEFAULT_BATCH_SIZE})
  --rejects FILE          write every rejected row as NDJSON {line, reason, record}
  --process               afterwards, run the functions (features, forecasts) in this process until
                          none has lag left. Not while a service runs on the same database: both
                          would work on the same events
  --json                  print the summary as JSON
  --quiet                 no progress bar
  -h, --help              this help

Example (Expedia "Flight Prices" columns):
  npm run import -- itineraries.csv.gz --origin startingAirport --destination destinationAirport \\
    --departure-date flightDate --observed-at searchDate --price totalFare --currency-value USD \\
    --carrier segmentsAirlineCode --id legId,searchDate`;

const TOP_REASONS = 10;
const IMPORT_CACHE_KIB = 128 * 1024;

function parseCli() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      origin: { type: 'string' },
      destination: { type: 'string' },
      'departure-date': { type: 'string' },
      'observed-at': { type: 'string' },
      price: { type: 'string' },
      currency: { type: 'string' },
      'currency-value': { type: 'string' },
      carrier: { type: 'string' },
      'flight-numbers': { type: 'string' },
      id: { type: 'string' },
      'batch-size': { type: 'string' },
      rejects: { type: 'string' },
      process: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  if (positionals.length !== 1) throw new UsageError(`give exactly one CSV file (got ${positionals.length}); see --help`);
  const batchSize = values['batch-size'] === undefined ? DEFAULT_BATCH_SIZE : Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError('--batch-size must be a whole number of at least 1');
  const mapping: Partial<ColumnMapping> = {
    origin: values.origin,
    destination: values.destination,
    departureDate: values['departure-date'],
    observedAt: values['observed-at'],
    price: values.price,
    currency: values.currency,
    currencyValue: values['currency-value'],
    carrier: values.carrier,
    flightNumbers: values['flight-numbers'],
    id: values.id,
  };
  return { file: positionals[0], mapping, batchSize, ...values };
}

function formatSummary(file: string, database: string, summary: ImportSummary): string {
  const seconds = summary.elapsedMs / 1000;
  const lines = [
    `Imported ${file} into ${database}`,
    `  read        ${count(summary.read)}`,
    `  accepted    ${count(summary.accepted)}`,
    `  duplicates  ${count(summary.duplicates)}`,
    `  rejected    ${count(summary.rejected)}`,
  ];
  for (const r of summary.reasons.slice(0, TOP_REASONS)) {
    lines.push(`    ${count(r.count).padStart(9)}  ${r.reason} (first on line ${r.firstLine})`);
  }
  if (summary.reasons.length > TOP_REASONS) lines.push(`    … ${summary.reasons.length - TOP_REASONS} more reasons`);
  if (summary.unmapped.length > 0) lines.push(`  not in the file, left out: ${summary.unmapped.join(', ')}`);
  lines.push(`  time        ${seconds.toFixed(1)} s (${count(summary.rowsPerSecond)} rows/s)`);
  return lines.join('\n');
}

/** Runs the functions in this process until no function has lag left. */
async function processEvents(config: Config, quiet: boolean): Promise<{ lag: number; deadLetters: number; elapsedMs: number }> {
  const startedAt = performance.now();
  // Loaded only here: the service brings the model runtime, which a plain import does not need.
  const { createService } = await import('../src/service.js');
  const { backlogFunctions } = await import('../src/functions/index.js');
  // Nothing else is served here, so the functions take the backlog in large invocations.
  const service = createService({ config, functions: backlogFunctions() });
  const totalLag = () => service.runtime.stats().reduce((sum, s) => sum + s.lag, 0);
  const interactive = !quiet && process.stderr.isTTY;
  let stopping = false;
  const onSignal = () => {
    stopping = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Start once the serving model is loaded: predict skips events while there is none.
    await (service.modelProvider as { ready?: () => Promise<void> }).ready?.();
    service.runtime.start();
    for (;;) {
      const { pending } = await service.runtime.drain(1000);
      const elapsed = ((performance.now() - startedAt) / 1000).toFixed(0);
      if (interactive) process.stderr.write(`\rprocessing: ${count(pending)} events left (${elapsed} s)   `);
      if (pending === 0 || stopping) break;
    }
    if (interactive) process.stderr.write('\n');
    const stats = service.runtime.stats();
    return {
      lag: totalLag(),
      deadLetters: stats.reduce((sum, s) => sum + s.deadLetters, 0),
      elapsedMs: Math.round(performance.now() - startedAt),
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await service.close();
  }
}

async function main(): Promise<void> {
  const args = parseCli();
  // Fail on an unreadable file before touching the database.
  const probe = await openFareFile(args.file);
  probe.stream.destroy();
  let rejectsOut: WriteStream | undefined;
  if (args.rejects) {
    let fd: number;
    try {
      fd = openSync(args.rejects, 'w');
    } catch (error) {
      throw new UsageError(`cannot write ${args.rejects}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    rejectsOut = createWriteStream(args.rejects, { fd });
  }

  const { config, database, storage } = openConfiguredStorage();
  // A bigger page cache for this connection only: the log's four indexes outgrow the 2 MB default fast.
  database.sqlite.pragma(`cache_size = -${IMPORT_CACHE_KIB}`);

  const bar =
    !args.quiet && process.stderr.isTTY
      ? new SingleBar({
          format: 'importing |{bar}| {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted}',
          hideCursor: true,
          clearOnComplete: true,
          stream: process.stderr,
        })
      : undefined;
  const startedAt = performance.now();
  let rows = 0;
  let bytes = 0;
  const payload = () => ({
    rows: count(rows),
    rate: count(Math.round(rows / Math.max(0.001, (performance.now() - startedAt) / 1000))),
  });
  bar?.start(probe.sizeBytes, 0, payload());

  let summary: ImportSummary;
  try {
    summary = await importFareFile(args.file, {
      storage,
      mapping: args.mapping,
      batchSize: args.batchSize,
      onBytes: (read) => {
        bytes = read;
        bar?.update(bytes, payload());
      },
      onRows: (read) => {
        rows = read;
        bar?.update(bytes, payload());
      },
      onReject: rejectsOut
        ? (rejection) => rejectsOut.write(`${JSON.stringify(rejection)}\n`)
        : undefined,
    });
  } finally {
    bar?.stop();
    database.close();
    if (rejectsOut) await new Promise((resolve) => rejectsOut.end(resolve));
  }

  const processed = args.process ? await processEvents(config, args.quiet) : undefined;
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({ file: args.file, database: config.FARESIGHT_DB_PATH, ...summary, ...(processed && { processed }) }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(`${formatSummary(args.file, config.FARESIGHT_DB_PATH, summary)}\n`);
    if (processed) {
      process.stdout.write(
        `  processed   in ${(processed.elapsedMs / 1000).toFixed(1)} s; lag left ${count(processed.lag)}, dead letters ${count(processed.deadLetters)}\n`,
      );
    }
  }
}

runMain(main, (error) => error instanceof ImportError);
