import type { App, AppDeps } from './context.js';
import { registerDeadLetters } from './dead-letters.js';
import { registerEvents } from './events.js';
import { registerFunctions } from './functions.js';
import { registerHealth } from './health.js';

/** Every route group, registered in one explicit list. */
export const routes: readonly ((app: App, deps: AppDeps) => void)[] = [
  registerHealth,
  registerEvents,
  registerFunctions,
  registerDeadLetters,
];
