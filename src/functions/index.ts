import type { FaresightFunction } from '../runtime/define.js';
import type { FunctionDeps } from './deps.js';
import { extractFeatures } from './extract-features.js';
import { predict } from './predict.js';
import { retrain } from './retrain.js';

/** Every function the service runs, in one explicit list. */
export const functions: readonly FaresightFunction<any, FunctionDeps>[] = [extractFeatures, predict, retrain];

/** How many events extract-features takes an invocation when draining a backlog (see {@link backlogFunctions}). */
export const BACKLOG_BATCH_SIZE = 50_000;

/**
 * The functions for a process that drains a backlog and serves nothing else (`npm run import --
 * --process`): extract-features takes up to `maxSize` events an invocation instead of 2,000, so a
 * series that appears many times in the backlog is loaded, forecast and stored once per invocation,
 * and the events of an invocation are processed in event-time order over a wider window. Such an
 * invocation holds the event loop for a few hundred milliseconds, which a serving process cannot afford.
 */
export function backlogFunctions(maxSize = BACKLOG_BATCH_SIZE): readonly FaresightFunction<any, FunctionDeps>[] {
  return functions.map((fn) => (fn === extractFeatures ? { ...fn, batch: { ...fn.batch, maxSize } } : fn));
}
