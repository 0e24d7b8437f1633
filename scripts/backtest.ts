/**
 * The backtest, after Etzioni et al. (2003), "To buy or not to buy": train on searches
 * before a cutoff, then simulated passengers after it follow each policy.
 *
 *   npm run backtest [-- PATH] [--cutoff 2016-02-15] [--json out.json]
 *
 * See --help and docs/model.md.
 */
import { SingleBar } from 'cli-progress';
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  baselineRows,
  evaluateModel,
  splitDataset,
  trainChallenger,
  type PolicyRow,
} from '../src/model/backtest.js';
import { buildDataset, sortByEventTime } from '../src/model/dataset.js';
import { simulate, thresholdRule, type PolicyResult } from '../src/model/evaluate.js';
import { readFareCsv } from '../src/model/fare-csv.js';
import { FEATURE_COUNT, FEATURE_VERSION } from '../src/model/features.js';
import { initTensorflow, type BackendName } from '../src/model/tf.js';
import { runMain, UsageError } from './lib/cli.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_DATA = resolve(ROOT, '../shared/data/fares/wizz-fares.csv.gz');

const HELP = `Usage: npm run backtest [-- PATH] [options]

Replays a fare CSV (Wizz Air columns; default ${DEFAULT_DATA}) in event-time
order, trains the model on searches before the cutoff, and simulates passengers after
it: each starts on a day 2–35 days before departure and buys or waits day by day.

Options:
  --cutoff DATE        train before, evaluate from this day (default 2016-02-15)
  --json FILE          also write the results as JSON
  --ensemble N         networks averaged into the model (default 3)
  --max-epochs N       training epochs, the learning rate falling over them (default 10)
  --seed N             training seed (default 42)
  --backend NAME       tfjs backend to start with: tensorflow, wasm or cpu
  --quiet              no progress output
  -h, --help           this help`;

const fmt = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? '—' : x.toFixed(digits));

function table(rows: PolicyRow[]): string {
  const header = ['policy', 'savings % of optimal', 'mean saving %', 'paid more %', 'their mean loss %', 'passengers'];
  const body = rows.map((r) => [
    `${r.policy}: ${r.description}`,
    fmt(r.result.savingsPctOfOptimal),
    fmt(r.result.meanSavingPct, 2),
    fmt(r.result.paidMorePct),
    fmt(r.result.paidMoreMeanLossPct),
    String(r.result.passengers),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

runMain(async () => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      cutoff: { type: 'string', default: '2016-02-15' },
      json: { type: 'string' },
      ensemble: { type: 'string', default: '3' },
      'max-epochs': { type: 'string' },
      seed: { type: 'string', default: '42' },
      backend: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const path = resolve(positionals[0] ?? DEFAULT_DATA);
  const cutoff = Date.parse(`${values.cutoff}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(values.cutoff) || !Number.isFinite(cutoff)) throw new UsageError('--cutoff must be a date as YYYY-MM-DD');
  const positive = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive whole number`);
    return n;
  };
  const ensemble = positive('ensemble', values.ensemble)!;
  const maxEpochs = positive('max-epochs', values['max-epochs']);
  const seed = positive('seed', values.seed)!;
  if (values.backend && !['tensorflow', 'wasm', 'cpu'].includes(values.backend)) throw new UsageError('--backend must be tensorflow, wasm or cpu');
  const log = (message: string) => {
    if (!values.quiet) process.stderr.write(`${message}\n`);
  };
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);

  const backend = await initTensorflow({ prefer: values.backend as BackendName | undefined });
  log(`tfjs backend: ${backend}`);
  log(`reading ${path}…`);
  const events = sortByEventTime(await readFareCsv(path));
  log(`${events.length.toLocaleString('en')} fare events (${seconds()} s); computing features…`);
  const ds = buildDataset(events);
  const split = splitDataset(ds, { cutoff });
  if (split.evalPassengers.length === 0) throw new UsageError(`no passengers after the cutoff ${values.cutoff}: is it inside the data?`);
  log(
    `features done (${seconds()} s): ${split.trainRows.length.toLocaleString('en')} training and ${split.validationRows.length.toLocaleString('en')} validation rows; training…`,
  );

  const bar = new SingleBar({ format: '{run} |{bar}| epoch {value}/{total} · loss {loss} · validation {validation}', hideCursor: true });
  let barRun = '';
  const trainStarted = performance.now();
  const challenger = await trainChallenger(split, {
    ensemble,
    seed,
    ...(maxEpochs ? { maxEpochs } : {}),
    onEpoch: (e) => {
      if (values.quiet) return;
      const run = e.validationLoss === null ? 'refit' : 'fit  ';
      const payload = { run, loss: e.trainLoss.toFixed(4), validation: fmt(e.validationLoss, 4) };
      if (run !== barRun || e.epoch === 1) {
        if (barRun) bar.stop();
        barRun = run;
        bar.start(e.maxEpochs, 0, payload);
      }
      bar.update(e.epoch, payload);
    },
  });
  if (barRun) bar.stop();
  const trainingSeconds = (performance.now() - trainStarted) / 1000;
  log(`trained in ${trainingSeconds.toFixed(1)} s; simulating passengers…`);

  const evaluation = evaluateModel(split, challenger.predictions, challenger.waitThreshold);
  const modelRow = (threshold: number, label: string): PolicyRow => ({
    policy: label,
    description: `wait while P(cheaper later) > ${threshold.toFixed(2)}`,
    result: simulate(ds, split.evalPassengers, thresholdRule(challenger.predictions.probability, threshold)),
  });
  // Expected lowest ratio from the three quantiles (Pearson–Tukey weights); wait while it promises a saving.
  const expectedSavingRow = (margin: number): PolicyRow => {
    const { q10, q50, q90 } = challenger.predictions;
    const wait = new Uint8Array(ds.size);
    const clamp = (x: number) => Math.min(1, Math.max(0.01, x));
    for (let i = 0; i < ds.size; i++) {
      const expected = 0.185 * clamp(q10[i]) + 0.63 * clamp(q50[i]) + 0.185 * clamp(q90[i]);
      wait[i] = 1 - expected > margin ? 1 : 0;
    }
    return {
      policy: 'model-saving',
      description: `wait while the expected lowest price is > ${(margin * 100).toFixed(0)}% below today's (not tuned)`,
      result: simulate(ds, split.evalPassengers, wait),
    };
  };
  const [buyNow, waitToEnd, fixed, oracle] = baselineRows(split);
  const rows: PolicyRow[] = [
    buyNow,
    waitToEnd,
    fixed,
    modelRow(challenger.waitThreshold, 'model'),
    {
      ...modelRow(challenger.tunedThreshold, 'model-tuned'),
      description: `wait while P(cheaper later) > ${challenger.tunedThreshold.toFixed(2)} (tuned on the validation departures)`,
    },
    expectedSavingRow(0.05),
    oracle,
  ];

  const q = evaluation.quality;
  const fmtDate = (t: number) => new Date(t).toISOString().slice(0, 10);
  console.log(
    `Backtest: ${path}\n` +
      `data ${fmtDate(split.dataFrom)} → ${fmtDate(split.dataTo)}, ${events.length.toLocaleString('en')} events · ` +
      `train before ${values.cutoff} (validation: departures from ${fmtDate(split.validationFrom)}) · evaluate from ${values.cutoff}\n`,
  );
  console.log(table(rows));
  console.log(
    `\n"cheaper later" on ${q.rows.toLocaleString('en')} passenger start days: AUC ${fmt(q.auc, 3)}, accuracy ${fmt(q.accuracyPct)}% (at 0.5)\n` +
      `lowest price still to come: MAE ${fmt(q.lowestPriceMaePct, 2)}% of price, 80% interval coverage ${fmt(q.intervalCoveragePct)}%\n` +
      `model: ${ensemble} × MLP ${challenger.training.options.hidden.join('-')} on ${FEATURE_COUNT} features (v${FEATURE_VERSION}), ` +
      `${challenger.training.bestEpoch} epochs, interval ×${challenger.intervalScale.toFixed(1)}, tfjs ${backend}; ` +
      `training ${trainingSeconds.toFixed(1)} s, total ${seconds()} s`,
  );

  if (values.json) {
    const result = (r: PolicyResult) => r;
    writeFileSync(
      values.json,
      `${JSON.stringify(
        {
          data: path,
          cutoff: values.cutoff,
          events: events.length,
          window: { from: new Date(split.dataFrom).toISOString(), to: new Date(split.dataTo).toISOString(), validationFrom: new Date(split.validationFrom).toISOString() },
          rows: { training: split.trainRows.length, validation: split.validationRows.length },
          passengers: { training: split.trainPassengers.length, validation: split.validationPassengers.length, evaluation: split.evalPassengers.length },
          policies: rows.map((r) => ({ policy: r.policy, description: r.description, ...result(r.result) })),
          prediction: q,
          model: {
            featureVersion: FEATURE_VERSION,
            features: FEATURE_COUNT,
            hidden: challenger.training.options.hidden,
            ensemble,
            epochs: challenger.training.bestEpoch,
            waitThreshold: challenger.waitThreshold,
            tunedThreshold: challenger.tunedThreshold,
            intervalScale: challenger.intervalScale,
            backend,
            seed,
          },
          seconds: { training: trainingSeconds, total: (performance.now() - started) / 1000 },
        },
        null,
        2,
      )}\n`,
    );
    log(`wrote ${values.json}`);
  }
});
