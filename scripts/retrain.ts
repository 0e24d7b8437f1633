/**
 * Retrains the model once on the fare events in the configured database, the same way
 * the service's retrain function does (a child process; the challenger is promoted only
 * if it beats the serving model on the most recent held-out days). For cron:
 *
 *   npm run retrain [-- --reason TEXT] [--holdout-days 14] [--json] [--quiet]
 *
 * A running service picks a promoted model up within a few seconds, without a restart.
 * Exit status: 0 promoted or rejected, 1 failed.
 */
import { SingleBar } from 'cli-progress';
import { parseArgs } from 'node:util';
import { createModelRegistry } from '../src/db/model-registry.js';
import { runRetrainInChild } from '../src/model/retrain-runner.js';
import type { RetrainProgress } from '../src/model/retrain.js';
import { openConfiguredStorage, runMain, UsageError } from './lib/cli.js';

const HELP = `Usage: npm run retrain [-- options]

Trains a challenger on the fare events of the configured database (FARESIGHT_DB_PATH),
judges it against the serving model on the last days of event time, and promotes it
(models/current in FARESIGHT_MODELS_DIR) only if it saves more. Every run is recorded
and listed by GET /v1/models.

Options:
  --reason TEXT        recorded with the run (default "npm run retrain")
  --holdout-days N     days at the end of the window to judge on (default 14)
  --max-epochs N       training epochs, the learning rate falling over them (default 10)
  --json               print the outcome as JSON
  --quiet              no progress bar
  -h, --help           this help

Crontab, nightly at 03:15:
  15 3 * * * cd /srv/faresight && npm run retrain -- --quiet >> retrain.log 2>&1`;

const fmt = (x: unknown, digits = 1) => (typeof x === 'number' ? x.toFixed(digits) : 'n/a');

runMain(async () => {
  const { values } = parseArgs({
    options: {
      reason: { type: 'string', default: 'npm run retrain' },
      'holdout-days': { type: 'string' },
      'max-epochs': { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const number = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive whole number`);
    return n;
  };
  const holdoutDays = number('holdout-days', values['holdout-days']);
  const maxEpochs = number('max-epochs', values['max-epochs']);
  const { config, database } = openConfiguredStorage();
  if (config.FARESIGHT_DB_PATH === ':memory:') throw new UsageError('FARESIGHT_DB_PATH is :memory:; point it at the database file');
  const registry = createModelRegistry(database.sqlite);
  const startedAt = performance.now();

  const showBar = !values.quiet && !values.json;
  const bar = new SingleBar({
    format: '{phase} |{bar}| epoch {value}/{total} · loss {loss} · validation {validation}',
    hideCursor: true,
    clearOnComplete: false,
  });
  let barRun: string | undefined;
  const onProgress = (p: RetrainProgress) => {
    if (!showBar) return;
    if (p.phase === 'training' && p.epoch !== undefined) {
      const phase = p.run === 'refit' ? 'refit   ' : 'training';
      const payload = { phase, loss: fmt(p.loss, 4), validation: fmt(p.validationLoss, 4) };
      if (barRun !== p.run) {
        if (barRun) bar.stop();
        barRun = p.run;
        bar.start(p.maxEpochs ?? 1, 0, payload);
      }
      bar.update(p.epoch, payload);
    } else if (p.phase !== 'training') {
      if (barRun) {
        bar.stop();
        barRun = undefined;
      }
      process.stderr.write(`${p.phase}…\n`);
    }
  };
  if (showBar) process.stderr.write('reading fare events…\n');

  const outcome = await runRetrainInChild(
    {
      job: {
        modelsDir: config.FARESIGHT_MODELS_DIR,
        reason: values.reason,
        holdoutDays,
        train: maxEpochs ? { maxEpochs } : undefined,
      },
      dbPath: config.FARESIGHT_DB_PATH,
    },
    { onProgress },
  );
  if (barRun) bar.stop();
  registry.record(outcome);
  database.close();
  const seconds = (performance.now() - startedAt) / 1000;

  if (values.json) {
    console.log(JSON.stringify({ ...outcome, seconds }, null, 2));
  } else {
    const m = outcome.metrics as {
      challenger?: Record<string, number | null>;
      incumbent?: (Record<string, number | null> & { version?: string }) | null;
      training?: Record<string, number | null>;
      backend?: string;
    };
    const c = m.challenger ?? {};
    const i = m.incumbent;
    console.log(`version   ${outcome.version} (${outcome.status})`);
    console.log(`decision  ${outcome.decision}`);
    if (outcome.error) console.log(`error     ${outcome.error}`);
    console.log(`window    ${outcome.window.from ?? '?'} → ${outcome.window.to ?? '?'} · ${outcome.window.events.toLocaleString('en')} events · held out from ${outcome.window.holdoutFrom ?? '?'}`);
    if (m.challenger) {
      console.log(
        `holdout   challenger: savings ${fmt(c.savingsPctOfOptimal)}% of optimal, AUC ${fmt(c.auc, 3)}, paid more ${fmt(c.paidMorePct)}%, ${c.passengers ?? 0} passengers`,
      );
      if (i) console.log(`          serving ${i.version}: savings ${fmt(i.savingsPctOfOptimal)}% of optimal, AUC ${fmt(i.auc, 3)}`);
    }
    if (m.training) {
      console.log(`training  ${m.training.rows} rows · ${m.training.epochs} epochs (best ${m.training.bestEpoch}) · ${fmt(m.training.seconds)} s on ${m.backend}`);
    }
    console.log(`total     ${seconds.toFixed(1)} s`);
  }
  if (outcome.status === 'failed') process.exitCode = 1;
});
