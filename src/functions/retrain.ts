import { Cron } from 'croner';
import { createHash, randomBytes } from 'node:crypto';
import type { FunctionStateStore, ModelRegistry } from '../db/model-registry.js';
import { FARE_OBSERVED, RETRAIN_REQUESTED } from '../events/catalog.js';
import type { Logger } from '../logger.js';
import { INTERRUPTED } from '../model/retrain-runner.js';
import type { RetrainOutcome } from '../model/retrain.js';
import { defineFunction } from '../runtime/define.js';
import type { Runtime } from '../runtime/runtime.js';
import type { RuntimeStorage } from '../runtime/types.js';
import type { FunctionDeps } from './deps.js';

/** What the retrain function needs, built by the composition root. */
export interface RetrainDeps {
  /** Runs one retrain in a child process; resolves to its outcome, failures included. */
  run(reason: string): Promise<RetrainOutcome>;
  registry: ModelRegistry;
  state: FunctionStateStore;
  /** The folder of models/<version>/ and models/current. */
  modelsDir: string;
  /** Retrain after this many new fare events (and when event time enters a new day); 0 disables both. */
  afterEvents: number;
  /** Called after a retrain so the serving model is swapped at once instead of at the next poll. */
  refreshModel?: () => Promise<unknown>;
  /**
   * Whether there are enough fare events to train on. Automatic triggers skip a retrain
   * (without recording it) until there are; an explicit request runs and records why it failed.
   */
  enoughData?: () => boolean;
}

/** The payload of a retrain.requested event. */
export interface RetrainRequestPayload {
  reason: string;
  requestedAt: string;
}

/** The trigger's durable counters, in function_state. */
export interface RetrainTriggerState {
  /** Fare events since the last retrain. */
  eventsSince: number;
  /** The latest event-time day (days since the epoch) seen. */
  lastDay: number | null;
  /** A retrain is owed but was put off while the function caught up with a backlog. */
  due: boolean;
  dueReason: string | null;
}

export const RETRAIN_STATE_KEY = 'retrain.trigger';
// Large batches fold a burst into one decision; the short wait keeps ?wait=true responses prompt,
// since this function's bookkeeping is part of what such a response waits for.
export const RETRAIN_BATCH = { maxSize: 10_000, maxWaitMs: 20 } as const;
const DAY_MS = 86_400_000;

const initialState = (): RetrainTriggerState => ({ eventsSince: 0, lastDay: null, due: false, dueReason: null });

/**
 * Retrains the model. Triggered by fare events (after FARESIGHT_RETRAIN_AFTER_EVENTS
 * of them, or when event time enters a new day) and by retrain.requested (the schedule
 * or an operator). The runtime runs one invocation of a function at a time and hands
 * it large batches, so a burst of events never stacks trainings; while it works through
 * a backlog (full batches) an owed retrain waits until it has caught up. Training runs
 * in a child process; its record and the counters commit with the cursor.
 */
export const retrain = defineFunction<unknown, FunctionDeps>(
  {
    id: 'retrain',
    on: [FARE_OBSERVED, RETRAIN_REQUESTED],
    batch: RETRAIN_BATCH,
    // A failed training is recorded, not retried: the next trigger tries again.
    retries: 0,
  },
  async ({ events, deps, effect }) => {
    const retrainDeps = deps.retrain;
    if (!retrainDeps) return;
    const state = { ...initialState(), ...retrainDeps.state.get<RetrainTriggerState>(RETRAIN_STATE_KEY) };
    const reasons: string[] = [];
    let requested = false;
    for (const event of events) {
      if (event.type === RETRAIN_REQUESTED) {
        requested = true;
        const payload = event.payload as Partial<RetrainRequestPayload> | undefined;
        reasons.push(payload?.reason ?? 'requested');
        continue;
      }
      state.eventsSince++;
      const day = Math.floor(event.time / DAY_MS);
      if (state.lastDay !== null && day > state.lastDay && retrainDeps.afterEvents > 0) {
        state.due = true;
        state.dueReason = `event time entered ${new Date(day * DAY_MS).toISOString().slice(0, 10)}`;
      }
      state.lastDay = state.lastDay === null ? day : Math.max(state.lastDay, day);
    }
    if (retrainDeps.afterEvents > 0 && state.eventsSince >= retrainDeps.afterEvents && !state.due) {
      state.due = true;
      state.dueReason = `${state.eventsSince} new fare events`;
    }
    const caughtUp = events.length < RETRAIN_BATCH.maxSize;
    if (!requested && !(state.due && caughtUp)) {
      effect(() => retrainDeps.state.set(RETRAIN_STATE_KEY, state));
      return;
    }
    if (!requested && retrainDeps.enoughData && !retrainDeps.enoughData()) {
      deps.logger.debug({ reason: state.dueReason }, 'retrain skipped: not enough fare events yet');
      effect(() => retrainDeps.state.set(RETRAIN_STATE_KEY, { ...state, eventsSince: 0, due: false, dueReason: null }));
      return;
    }
    if (state.due && state.dueReason) reasons.push(state.dueReason);
    const reason = [...new Set(reasons)].join('; ');
    deps.logger.info({ reason, eventsSince: state.eventsSince }, 'retrain started');
    let outcome: RetrainOutcome;
    try {
      outcome = await retrainDeps.run(reason);
    } catch (error) {
      // run() should not throw; if it does, the failure is still recorded and nothing is retried.
      outcome = {
        version: `failed-${Date.now()}`,
        createdAt: Date.now(),
        status: 'failed',
        reason,
        decision: 'failed: the serving model is unchanged',
        window: { from: null, to: null, holdoutFrom: null, events: 0 },
        metrics: {},
        error: String(error),
      };
    }
    const log = outcome.status === 'failed' ? deps.logger.error.bind(deps.logger) : deps.logger.info.bind(deps.logger);
    log({ version: outcome.version, status: outcome.status, decision: outcome.decision, err: outcome.error ?? undefined }, 'retrain finished');
    if (outcome.status === 'promoted') await retrainDeps.refreshModel?.().catch(() => undefined);
    // Stopped by a shutdown: the retrain is still owed after the restart.
    const interrupted = outcome.error === INTERRUPTED;
    effect(() => {
      retrainDeps.registry.record(outcome);
      retrainDeps.state.set(
        RETRAIN_STATE_KEY,
        interrupted ? { ...state, due: true, dueReason: reason } : { ...state, eventsSince: 0, due: false, dueReason: null },
      );
    });
  },
);

/**
 * Appends a retrain.requested event (its own root) and returns its seq. Call
 * `runtime.notify()` afterwards so the retrain function wakes at once.
 */
export function requestRetrain(storage: RuntimeStorage, reason: string, now = Date.now()): number {
  const payload: RetrainRequestPayload = { reason, requestedAt: new Date(now).toISOString() };
  const key = `retrain@${payload.requestedAt}#${randomBytes(4).toString('hex')}`;
  const outcome = storage.transaction(() =>
    storage.log.appendKeyed({
      type: RETRAIN_REQUESTED,
      key,
      // The digest, as retrain requests always stored it: a request logged before is compared alike.
      contentOf: (stored) => createHash('sha256').update(JSON.stringify(stored)).digest('hex'),
      series: 'retrain',
      time: now,
      payload,
    }),
  );
  if (outcome.kind === 'conflict') throw new Error(`retrain request key ${key} conflicts`);
  return outcome.seq;
}

/** A running retrain schedule. */
export interface RetrainSchedule {
  stop(): void;
  /** The next time it fires, if any. */
  nextRun(): Date | null;
}

/**
 * Requests a retrain on a cron expression (croner syntax, e.g. `0 3 * * *`). Throws
 * on an invalid expression, so a bad FARESIGHT_RETRAIN_CRON stops the start.
 */
export function scheduleRetrains(options: {
  cron: string;
  storage: RuntimeStorage;
  runtime: Pick<Runtime, 'notify'>;
  logger: Logger;
}): RetrainSchedule {
  const job = new Cron(options.cron, { protect: true, unref: true }, () => {
    try {
      const seq = requestRetrain(options.storage, `schedule (${options.cron})`);
      options.runtime.notify();
      options.logger.info({ seq, cron: options.cron }, 'scheduled retrain requested');
    } catch (error) {
      options.logger.error({ err: String(error) }, 'could not request the scheduled retrain');
    }
  });
  return { stop: () => job.stop(), nextRun: () => job.nextRun() };
}
