import type { FaresightFunction } from '../runtime/define.js';
import type { FunctionDeps } from './deps.js';
import { extractFeatures } from './extract-features.js';
import { predict } from './predict.js';
import { retrain } from './retrain.js';

/** Every function the service runs, in one explicit list. */
export const functions: readonly FaresightFunction<any, FunctionDeps>[] = [extractFeatures, predict, retrain];
